/**
 * The typed client of Chard's run API (`/chard/api/...`): compile, start, list, get, cancel,
 * resume, outputs, logs, and a run's event stream. Every answer is checked by a guard before it
 * is used. The event stream is an EventSource that, after any disconnect, reconnects asking for
 * the events after the last one it received, and drops any it has seen: the UI never polls and
 * never misses a state.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import type {
  IRunDetails,
  IRunEventEnvelope,
  IRunOutput,
  IRunSummary,
  IResumeRunRequest,
  IStartRunRequest
} from '../core/api.js';
import type { IStepOutputs } from '../core/richoutputs.js';
import { isStepOutputs } from '../core/richoutputs.js';
import type { RunBackend, RunEvent } from '../core/runs.js';
import { isRunRecord, RUN_BACKENDS, RUN_STATUSES, STEP_STATUSES } from '../core/runs.js';
import { requestAPI } from './request.js';

import type {
  ICancelRunResponse,
  ICompileHttpRequest,
  ICompileResponse,
  ILogChunk,
  IPrepareRunResponse
} from '../core/httpapi.js';
import { isApiError, SSE_LOG_EVENT, SSE_RUN_EVENT } from '../core/httpapi.js';

export type { ICompileResponse, ILogChunk };

/** The smallest part of EventSource the stream uses (a fake in tests). */
export interface IEventSourceLike {
  readonly readyState: number;
  onerror: ((event: unknown) => void) | null;
  addEventListener(type: string, listener: (event: { data: string }) => void): void;
  close(): void;
}

export type EventSourceFactory = (url: string) => IEventSourceLike;

/** The client; `settings` default to the page's server settings. */
export class RunClient {
  constructor(options: RunClient.IOptions = {}) {
    this._settings = options.settings ?? ServerConnection.makeSettings();
    this._eventSource =
      options.eventSource ??
      ((url: string) => new EventSource(url, { withCredentials: true }) as IEventSourceLike);
  }

  compile(options: ICompileHttpRequest): Promise<ICompileResponse> {
    return requestAPI(
      'compile',
      isCompileResult,
      { method: 'POST', body: options },
      this._settings
    );
  }

  start(request: IStartRunRequest): Promise<IRunDetails> {
    return requestAPI('runs', isRunDetails, { method: 'POST', body: request }, this._settings);
  }

  /** Have the backend get ready to run the notebook (a local run: warm its interpreter). */
  prepare(request: IStartRunRequest): Promise<IPrepareRunResponse> {
    return requestAPI(
      'runs/prepare',
      isPrepareAnswer,
      { method: 'POST', body: request },
      this._settings
    );
  }

  async list(notebook: string, backend?: RunBackend): Promise<IRunSummary[]> {
    const query = URLExt.objectToQueryString(backend ? { notebook, backend } : { notebook });
    const answer = await requestAPI(`runs${query}`, isRunList, {}, this._settings);
    return answer.runs;
  }

  get(id: string): Promise<IRunDetails> {
    return requestAPI(`runs/${encodeURIComponent(id)}`, isRunDetails, {}, this._settings);
  }

  cancel(id: string): Promise<ICancelRunResponse> {
    return requestAPI(
      `runs/${encodeURIComponent(id)}/cancel`,
      isCancelAnswer,
      { method: 'POST', body: {} },
      this._settings
    );
  }

  resume(id: string, request: IResumeRunRequest & { from?: string } = {}): Promise<IRunDetails> {
    return requestAPI(
      `runs/${encodeURIComponent(id)}/resume`,
      isRunDetails,
      { method: 'POST', body: request },
      this._settings
    );
  }

  async outputs(id: string): Promise<IRunOutput[]> {
    const answer = await requestAPI(
      `runs/${encodeURIComponent(id)}/outputs`,
      isOutputs,
      {},
      this._settings
    );
    return answer.outputs;
  }

  /** What a step's cells showed (figures, display() calls, cell values), as MIME bundles. */
  stepOutputs(id: string, step: string): Promise<IStepOutputs> {
    return requestAPI(
      `runs/${encodeURIComponent(id)}/steps/${encodeURIComponent(step)}/outputs`,
      isStepOutputs,
      {},
      this._settings
    );
  }

  /** A step's log as it is now. */
  async logs(id: string, step: string): Promise<ILogChunk[]> {
    const query = URLExt.objectToQueryString({ step });
    const answer = await requestAPI(
      `runs/${encodeURIComponent(id)}/logs${query}`,
      isLogChunks,
      {},
      this._settings
    );
    return answer.chunks;
  }

  /** Follow a step's log as it grows (until its final chunk). */
  followLogs(id: string, step: string, onChunk: (chunk: ILogChunk) => void): IStream {
    const url = this._url(`runs/${encodeURIComponent(id)}/logs`, { step, follow: '1' });
    const source = this._eventSource(url);
    let closed = false;
    const close = () => {
      closed = true;
      source.close();
    };
    source.addEventListener(SSE_LOG_EVENT, message => {
      const chunk = Private.parse(message.data);
      if (!closed && isLogChunk(chunk)) {
        onChunk(chunk);
        if (chunk.final) {
          close();
        }
      }
    });
    return { close };
  }

  /**
   * Follow a run's events after `after` (0: from the start). `onEvent` sees each event once and
   * in order; after a disconnect the stream reconnects from the last event received. It ends
   * after `run-finished`, or on `close()`.
   */
  events(
    id: string,
    after: number,
    onEvent: (envelope: IRunEventEnvelope) => void,
    options: { retryMs?: number; onError?: (message: string) => void } = {}
  ): IStream {
    let last = after;
    let closed = false;
    let source: IEventSourceLike | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const firstRetryMs = options.retryMs ?? 1000;
    let retryMs = firstRetryMs;
    const close = () => {
      closed = true;
      source?.close();
      if (timer !== null) {
        clearTimeout(timer);
      }
    };
    const open = () => {
      const current = this._eventSource(
        this._url(`runs/${encodeURIComponent(id)}/events`, { after: String(last) })
      );
      source = current;
      current.addEventListener(SSE_RUN_EVENT, message => {
        const envelope = Private.parse(message.data);
        if (closed || current !== source || !isEventEnvelope(envelope) || envelope.seq <= last) {
          return;
        }
        last = envelope.seq;
        retryMs = firstRetryMs;
        onEvent(envelope);
        if (envelope.event.event === 'run-finished') {
          close();
        }
      });
      current.onerror = (event: unknown) => {
        // A drop, the server's `error` event (data: an API error), or a refused connection:
        // open a new stream after the last event received, waiting longer each time in a row.
        if (closed || current !== source) {
          return;
        }
        current.close();
        const data =
          typeof event === 'object' && event !== null && 'data' in event
            ? Private.parse(String(event.data))
            : undefined;
        if (isApiError(data)) {
          options.onError?.(data.error.message);
        }
        const wait = retryMs;
        retryMs = Math.min(retryMs * 2, 30_000);
        timer = setTimeout(() => {
          timer = null;
          if (!closed) {
            open();
          }
        }, wait);
      };
    };
    open();
    return { close };
  }

  private _url(endpoint: string, query: Record<string, string>): string {
    const params = { ...query };
    if (this._settings.token) {
      params.token = this._settings.token;
    }
    return (
      URLExt.join(this._settings.baseUrl, 'chard', 'api', endpoint) +
      URLExt.objectToQueryString(params)
    );
  }

  private readonly _settings: ServerConnection.ISettings;
  private readonly _eventSource: EventSourceFactory;
}

export namespace RunClient {
  export interface IOptions {
    settings?: ServerConnection.ISettings;
    eventSource?: EventSourceFactory;
  }
}

/** A stream being followed. */
export interface IStream {
  close(): void;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringOrNull(value: unknown): value is string | null {
  return value === null || typeof value === 'string';
}

function isNumberOrNull(value: unknown): value is number | null {
  return value === null || typeof value === 'number';
}

export function isRunDetails(value: unknown): value is IRunDetails {
  return (
    isObject(value) &&
    isRunRecord(value.record) &&
    typeof value.dir === 'string' &&
    typeof value.notebook === 'string' &&
    (value.since === undefined || typeof value.since === 'number')
  );
}

function isRunSummary(value: unknown): value is IRunSummary {
  return (
    isObject(value) &&
    typeof value.id === 'string' &&
    typeof value.backend === 'string' &&
    RUN_BACKENDS.has(value.backend) &&
    typeof value.status === 'string' &&
    RUN_STATUSES.has(value.status) &&
    typeof value.createdAt === 'string'
  );
}

function isRunList(value: unknown): value is { runs: IRunSummary[] } {
  return isObject(value) && Array.isArray(value.runs) && value.runs.every(isRunSummary);
}

function isPrepareAnswer(value: unknown): value is IPrepareRunResponse {
  return (
    isObject(value) &&
    typeof value.ready === 'boolean' &&
    Array.isArray(value.preloaded) &&
    value.preloaded.every(m => typeof m === 'string')
  );
}

function isCancelAnswer(value: unknown): value is ICancelRunResponse {
  return (
    isObject(value) &&
    (value.record === null || isRunRecord(value.record)) &&
    ['already-finished', 'requested', 'stopped'].includes(String(value.how))
  );
}

function isOutputs(value: unknown): value is { outputs: IRunOutput[] } {
  return (
    isObject(value) &&
    Array.isArray(value.outputs) &&
    value.outputs.every(
      o => isObject(o) && typeof o.path === 'string' && typeof o.size === 'number'
    )
  );
}

export function isLogChunk(value: unknown): value is ILogChunk {
  return (
    isObject(value) &&
    typeof value.step === 'string' &&
    typeof value.text === 'string' &&
    typeof value.final === 'boolean'
  );
}

function isLogChunks(value: unknown): value is { chunks: ILogChunk[] } {
  return isObject(value) && Array.isArray(value.chunks) && value.chunks.every(isLogChunk);
}

function isCompileResult(value: unknown): value is ICompileResponse {
  return (
    isObject(value) &&
    typeof value.text === 'string' &&
    (value.target === 'argo' || value.target === 'kfp') &&
    Array.isArray(value.warnings) &&
    value.warnings.every(w => typeof w === 'string')
  );
}

/** A run event as the backends emit it (the fields the monitor reads are checked). */
export function isRunEvent(value: unknown): value is RunEvent {
  if (!isObject(value) || typeof value.run !== 'string' || typeof value.time !== 'string') {
    return false;
  }
  switch (value.event) {
    case 'run-started':
      return (
        Array.isArray(value.steps) &&
        value.steps.every(s => typeof s === 'string') &&
        typeof value.pipeline === 'string'
      );
    case 'step-started':
      return typeof value.step === 'string';
    case 'step-finished':
      return (
        typeof value.step === 'string' &&
        typeof value.status === 'string' &&
        STEP_STATUSES.has(value.status) &&
        isStringOrNull(value.message) &&
        isNumberOrNull(value.cell) &&
        isNumberOrNull(value.line)
      );
    case 'log':
      return typeof value.step === 'string' && typeof value.line === 'string';
    case 'metric':
      return (
        typeof value.step === 'string' &&
        typeof value.name === 'string' &&
        ['number', 'string', 'boolean'].includes(typeof value.value)
      );
    case 'progress':
      return typeof value.message === 'string';
    case 'step-outputs':
      return typeof value.step === 'string';
    case 'run-finished':
      return (
        typeof value.status === 'string' &&
        RUN_STATUSES.has(value.status) &&
        isStringOrNull(value.message)
      );
    default:
      return false;
  }
}

export function isEventEnvelope(value: unknown): value is IRunEventEnvelope {
  return isObject(value) && typeof value.seq === 'number' && isRunEvent(value.event);
}

namespace Private {
  export function parse(text: string): unknown {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  }
}
