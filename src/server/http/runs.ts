/**
 * The run endpoints of the HTTP API: thin translations of the run service's calls. Paths cross
 * this edge relative to the Jupyter root (requests are confined to it with `resolveInsideRoot`,
 * answers carry root-relative paths); the service's errors become HTTP statuses.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import type { IRunDetails, IRunSummary } from '../../core/api.js';
import {
  RUN_BACKENDS,
  SSE_LOG_EVENT,
  SSE_RUN_EVENT,
  isCompileHttpRequest,
  isCopyOutputsHttpRequest,
  isResumeRunHttpRequest,
  isStartRunHttpRequest
} from '../../core/httpapi.js';
import type {
  ICancelRunResponse,
  ICompileResponse,
  ICopyOutputsResult,
  ILogsResponse,
  IPrepareRunResponse,
  IRunListResponse,
  IRunOutputsResponse,
  IStepOutputsResponse
} from '../../core/httpapi.js';
import { isFinished } from '../../core/runs.js';
import type { RunBackend } from '../../core/runs.js';
import { ServiceError } from '../service/errors.js';
import type { RunService } from '../service/service.js';
import { resolveInsideRoot } from './paths.js';
import { HttpError } from './router.js';
import type { IRequestContext, IRoute, IServerSentEvent } from './router.js';

export interface IRunRoutesOptions {
  rootDir: string;
  service: RunService;
}

/** The rows of the route table that reach the run service. */
export function runRoutes(options: IRunRoutesOptions): IRoute[] {
  const api = new RunApi(options.rootDir, options.service);
  return [
    { method: 'POST', path: '/compile', handle: c => api.compile(c) },
    { method: 'POST', path: '/runs', handle: c => api.start(c) },
    { method: 'POST', path: '/runs/prepare', handle: c => api.prepare(c) },
    { method: 'GET', path: '/runs', handle: c => api.list(c) },
    { method: 'GET', path: '/runs/{id}', handle: c => api.get(c) },
    { method: 'GET', path: '/runs/{id}/events', handle: c => api.events(c) },
    { method: 'GET', path: '/runs/{id}/logs', handle: c => api.logs(c) },
    { method: 'POST', path: '/runs/{id}/cancel', handle: c => api.cancel(c) },
    { method: 'POST', path: '/runs/{id}/resume', handle: c => api.resume(c) },
    { method: 'GET', path: '/runs/{id}/outputs', handle: c => api.outputs(c) },
    { method: 'GET', path: '/runs/{id}/steps/{step}/outputs', handle: c => api.stepOutputs(c) },
    { method: 'POST', path: '/runs/{id}/outputs/copy', handle: c => api.copyOutputs(c) }
  ];
}

class RunApi {
  constructor(
    private readonly _rootDir: string,
    private readonly _service: RunService
  ) {}

  async compile({ body }: IRequestContext): Promise<{ body: ICompileResponse }> {
    if (!isCompileHttpRequest(body)) {
      throw Private.usage(
        'expected {"path": "<notebook path>", "target": "argo"|"kfp", "parameters"?, "image"?, "valueDigest"?}'
      );
    }
    const notebook = await resolveInsideRoot(this._rootDir, body.path);
    const request = {
      notebook,
      target: body.target,
      ...(body.parameters ? { parameters: body.parameters } : {}),
      ...(body.image ? { image: body.image } : {}),
      ...(body.valueDigest ? { valueDigest: body.valueDigest } : {})
    };
    return { body: await this._call(() => this._service.compileManifest(request)) };
  }

  async start({ body }: IRequestContext): Promise<{ status: number; body: IRunDetails }> {
    if (!isStartRunHttpRequest(body)) {
      throw Private.usage(
        'expected {"notebook": "<notebook path>", "target": "local"|"argo"|"kfp", "parameters"?, "local"?, "argo"?, "kfp"?}'
      );
    }
    const notebook = await resolveInsideRoot(this._rootDir, body.notebook);
    const details = await this._call(() =>
      this._service.start({ ...body, notebook }, { follow: true })
    );
    return { status: 201, body: this._details(details) };
  }

  async prepare({ body }: IRequestContext): Promise<{ body: IPrepareRunResponse }> {
    if (!isStartRunHttpRequest(body)) {
      throw Private.usage(
        'expected {"notebook": "<notebook path>", "target": "local"|"argo"|"kfp", "local"?}'
      );
    }
    const notebook = await resolveInsideRoot(this._rootDir, body.notebook);
    return { body: await this._call(() => this._service.prepare({ ...body, notebook })) };
  }

  async list({ query }: IRequestContext): Promise<{ body: IRunListResponse }> {
    const backend = query.get('backend');
    if (backend !== null && !(RUN_BACKENDS as readonly string[]).includes(backend)) {
      throw Private.usage(`backend must be one of ${RUN_BACKENDS.join(', ')}`);
    }
    const notebookParam = query.get('notebook');
    const notebook =
      notebookParam === null ? undefined : await resolveInsideRoot(this._rootDir, notebookParam);
    const runs = await this._call(() =>
      this._service.list(
        {
          ...(notebook ? { notebook } : {}),
          ...(backend ? { backend: backend as RunBackend } : {})
        },
        { root: this._root() }
      )
    );
    return { body: { runs: runs.map(r => this._summary(r)).reverse() } };
  }

  async get({ params }: IRequestContext): Promise<{ body: IRunDetails }> {
    return { body: this._details(await this._run(params?.id)) };
  }

  async events({ params, query, headers, signal }: IRequestContext): Promise<{
    events: AsyncIterable<IServerSentEvent>;
  }> {
    const run = await this._run(params?.id);
    const lastEventId = headers?.['last-event-id'];
    const after = Private.sequence(
      typeof lastEventId === 'string' && lastEventId !== '' ? lastEventId : query.get('after')
    );
    const service = this._service;
    async function* events(): AsyncGenerator<IServerSentEvent> {
      for await (const envelope of service.events(run.record.id, { after, signal })) {
        yield { id: String(envelope.seq), event: SSE_RUN_EVENT, data: JSON.stringify(envelope) };
      }
    }
    return { events: events() };
  }

  async logs({
    params,
    query,
    signal
  }: IRequestContext): Promise<
    { body: ILogsResponse } | { events: AsyncIterable<IServerSentEvent> }
  > {
    const run = await this._run(params?.id);
    const step = query.get('step') ?? undefined;
    if (step !== undefined && !run.record.steps.some(s => s.name === step)) {
      throw new HttpError(
        404,
        'not-found',
        `run ${run.record.id} has no step ${JSON.stringify(step)}`
      );
    }
    const follow = Private.flag(query.get('follow'));
    const service = this._service;
    if (!follow) {
      const chunks = [];
      for await (const chunk of Private.errorsOf(service.logs(run.record.id, { step }))) {
        chunks.push(chunk);
      }
      return { body: { chunks } };
    }
    async function* events(): AsyncGenerator<IServerSentEvent> {
      for await (const chunk of service.logs(run.record.id, { step, follow: true, signal })) {
        yield { event: SSE_LOG_EVENT, data: JSON.stringify(chunk) };
      }
    }
    return { events: events() };
  }

  async cancel({ params }: IRequestContext): Promise<{ body: ICancelRunResponse }> {
    const run = await this._run(params?.id);
    const result = await this._call(() => this._service.cancel(run.record.id));
    return {
      body: {
        record: result.record ? { ...result.record, notebook: this._rel(run.notebook) } : null,
        how: result.how
      }
    };
  }

  async resume({ params, body }: IRequestContext): Promise<{ body: IRunDetails }> {
    const request = body ?? {};
    if (!isResumeRunHttpRequest(request)) {
      throw Private.usage('expected {"local"?: {...}, "from"?: "<step name>"}');
    }
    const run = await this._run(params?.id);
    if (run.record.backend !== 'local') {
      throw new HttpError(409, 'conflict', `run ${run.record.id} is not a local run`);
    }
    if (!isFinished(run.record.status)) {
      throw new HttpError(
        409,
        'conflict',
        `run ${run.record.id} is still ${run.record.status}; wait for it to end or cancel it`
      );
    }
    const { from, local } = request;
    if (from !== undefined) {
      if (!run.record.steps.some(s => s.name === from)) {
        throw new HttpError(
          404,
          'not-found',
          `run ${run.record.id} has no step ${JSON.stringify(from)}`
        );
      }
      const details = await this._call(() =>
        this._service.start({
          notebook: run.notebook,
          target: 'local',
          parameters: run.record.parameters,
          local: { ...local, from: { step: from, run: run.record.id } }
        })
      );
      return { body: this._details(details) };
    }
    const details = await this._call(() =>
      this._service.resume(run.record.id, local ? { local } : {})
    );
    return { body: this._details(details) };
  }

  async outputs({ params }: IRequestContext): Promise<{ body: IRunOutputsResponse }> {
    const run = await this._run(params?.id);
    return { body: { outputs: await this._call(() => this._service.outputs(run.record.id)) } };
  }

  async stepOutputs({ params }: IRequestContext): Promise<{ body: IStepOutputsResponse }> {
    const run = await this._run(params?.id);
    const step = params?.step ?? '';
    return {
      body: await this._call(() => this._service.stepOutputs(run.record.id, step))
    };
  }

  async copyOutputs({ params, body }: IRequestContext): Promise<{ body: ICopyOutputsResult }> {
    const request = body ?? {};
    if (!isCopyOutputsHttpRequest(request)) {
      throw Private.usage('expected {"paths"?: ["<output path>", ...], "force"?: true|false}');
    }
    for (const p of request.paths ?? []) {
      if (path.isAbsolute(p) || p.split(/[\\/]/).includes('..')) {
        throw new HttpError(
          403,
          'outside-root',
          `${p}: give a path relative to the run's workspace`
        );
      }
    }
    const run = await this._run(params?.id);
    const result = await this._call(() => this._service.copyOutputs(run.record.id, request));
    return { body: { copied: result.copied, target: this._rel(result.target) } };
  }

  /** A run by id (or unique prefix) whose folder is inside the root; 404 otherwise. */
  private async _run(id: string | undefined): Promise<IRunDetails> {
    if (id === undefined || !/^[0-9A-Za-z][0-9A-Za-z.-]*$/.test(id) || id.includes('..')) {
      throw new HttpError(400, 'bad-request', `${JSON.stringify(id)} is not a run id`);
    }
    let details: IRunDetails;
    try {
      details = await this._service.get(id);
    } catch (error) {
      if (error instanceof ServiceError && error.notFound) {
        throw new HttpError(404, 'not-found', `no run ${JSON.stringify(id)}`);
      }
      throw this._httpError(error);
    }
    if (!this._inside(details.dir)) {
      throw new HttpError(404, 'not-found', `no run ${JSON.stringify(id)} under the Jupyter root`);
    }
    return details;
  }

  private async _call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw this._httpError(error);
    }
  }

  /** A service error as the client sees it, with the server's root left out of the message. */
  private _httpError(error: unknown): unknown {
    if (!(error instanceof ServiceError)) {
      return error;
    }
    const message = this._strip(error.message);
    if (error.notFound) {
      return new HttpError(404, 'not-found', message);
    }
    if (error.usage) {
      return new HttpError(400, 'bad-request', message);
    }
    if (error.diagnostics.length > 0) {
      return new HttpError(
        422,
        'invalid-notebook',
        message,
        error.diagnostics.map(d => ({ ...d, message: this._strip(d.message) }))
      );
    }
    return new HttpError(409, 'conflict', message);
  }

  private _root(): string {
    try {
      return realpathSync(this._rootDir);
    } catch {
      return path.resolve(this._rootDir);
    }
  }

  private _inside(file: string): boolean {
    const root = this._root();
    const abs = path.resolve(file);
    return abs === root || abs.startsWith(root + path.sep);
  }

  /** `file` relative to the root ('' for the root itself); outside it, only its base name. */
  private _rel(file: string): string {
    const abs = path.resolve(file);
    return this._inside(abs) ? path.relative(this._root(), abs) : path.basename(abs);
  }

  private _strip(message: string): string {
    return message.split(this._root() + path.sep).join('');
  }

  private _details(details: IRunDetails): IRunDetails {
    return {
      ...details,
      record: { ...details.record, notebook: this._rel(details.notebook) },
      dir: this._rel(details.dir),
      notebook: this._rel(details.notebook),
      workspace: details.workspace === null ? null : this._rel(details.workspace)
    };
  }

  private _summary(summary: IRunSummary): IRunSummary {
    return { ...summary, notebook: this._rel(summary.notebook), dir: this._rel(summary.dir) };
  }
}

namespace Private {
  export function usage(message: string): HttpError {
    return new HttpError(400, 'bad-request', message);
  }

  /** `after` / Last-Event-ID: a whole number ≥ 0 (absent: 0). */
  export function sequence(text: string | null): number {
    if (text === null || text === '') {
      return 0;
    }
    if (!/^\d{1,15}$/.test(text)) {
      throw usage(`after (or Last-Event-ID) must be a whole number, not ${JSON.stringify(text)}`);
    }
    return Number(text);
  }

  export function flag(text: string | null): boolean {
    if (text === null || text === '' || text === '0' || text === 'false') {
      return false;
    }
    if (text === '1' || text === 'true') {
      return true;
    }
    throw usage(`follow must be 1 or 0, not ${JSON.stringify(text)}`);
  }

  export async function* errorsOf<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
    try {
      yield* source;
    } catch (error) {
      if (error instanceof ServiceError) {
        throw new HttpError(409, 'conflict', error.message);
      }
      throw error;
    }
  }
}
