/**
 * Following an Argo Workflow: list it, watch it from the listed resourceVersion, reconnect when
 * the watch drops, relist on 410 Gone; map its nodes to Chard step records, emit RunEvents,
 * keep each finished step's pod log in the run record, and cancel with `spec.shutdown`.
 */
import { isRecord } from '../../core/notebook.js';
import type { IRunRecord, IStepRecord, RunEvent, RunStatus, StepStatus } from '../../core/runs.js';
import {
  diffEvents,
  isFinished,
  isSuccess,
  parseStepError,
  runStartedEvent
} from '../../core/runs.js';
import type { IKubeClient, IKubeObject, IWatchHandle, WatchEnd } from './client.js';
import { PODS, WORKFLOWS } from './client.js';
import { KubeApiError } from './errors.js';
import type { IRetryPolicy } from '../common/retry.js';
import { backoffDelay, DEFAULT_RETRY, isTransient, sleep } from '../common/retry.js';
import { splitOutputsLine } from '../common/richoutputs.js';
import type { RunRecordStore } from '../common/store.js';

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function str(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? value : null;
}

/** One Argo node, as much of it as Chard reads. */
export interface IWorkflowNode {
  id: string;
  name: string;
  displayName: string;
  type: string;
  phase: string;
  templateName: string | null;
  message: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  exitCode: number | null;
  /** Argo reused a memoized result instead of running the node. */
  memoized: boolean;
}

export function workflowNodes(wf: IKubeObject): IWorkflowNode[] {
  const status = isRecord(wf.status) ? wf.status : {};
  const nodes = isRecord(status.nodes) ? status.nodes : {};
  const out: IWorkflowNode[] = [];
  for (const [key, raw] of Object.entries(nodes)) {
    if (!isRecord(raw)) {
      continue;
    }
    const outputs = isRecord(raw.outputs) ? raw.outputs : {};
    const exit = outputs.exitCode;
    const exitCode =
      typeof exit === 'number'
        ? exit
        : typeof exit === 'string' && exit !== ''
          ? Number(exit)
          : null;
    out.push({
      id: str(raw.id) ?? key,
      name: str(raw.name) ?? key,
      displayName: str(raw.displayName) ?? str(raw.name) ?? key,
      type: str(raw.type) ?? '',
      phase: str(raw.phase) ?? 'Pending',
      templateName: str(raw.templateName),
      message: str(raw.message),
      startedAt: str(raw.startedAt),
      finishedAt: str(raw.finishedAt),
      exitCode: exitCode !== null && Number.isFinite(exitCode) ? exitCode : null,
      memoized: isRecord(raw.memoizationStatus) && raw.memoizationStatus.hit === true
    });
  }
  return out;
}

export function nodeStatus(phase: string): StepStatus {
  switch (phase) {
    case 'Running':
      return 'running';
    case 'Succeeded':
      return 'succeeded';
    case 'Failed':
    case 'Error':
      return 'failed';
    case 'Skipped':
    case 'Omitted':
      return 'skipped';
    default:
      return 'pending';
  }
}

/** The run status of a Workflow; a terminated (shutdown) workflow that stopped is cancelled. */
export function workflowStatus(wf: IKubeObject): { status: RunStatus; message: string | null } {
  const status = isRecord(wf.status) ? wf.status : {};
  const spec = isRecord(wf.spec) ? wf.spec : {};
  const phase = str(status.phase) ?? '';
  const message = str(status.message);
  const shutdown = str(spec.shutdown);
  switch (phase) {
    case 'Running':
      return { status: 'running', message };
    case 'Succeeded':
      return { status: 'succeeded', message };
    case 'Failed':
    case 'Error':
      if (shutdown || (message !== null && /stopped with strategy/i.test(message))) {
        return { status: 'cancelled', message: message ?? `stopped (${shutdown})` };
      }
      return { status: 'failed', message };
    default:
      return { status: 'pending', message };
  }
}

/** The step a node runs: its display name (minus a retry suffix) is the step id. */
function stepKey(node: IWorkflowNode): string {
  return node.displayName.replace(/\(\d+\)$/, '');
}

/**
 * Apply a Workflow's state to a run record (returns a new record). Steps are matched to Pod
 * nodes by step id (the DAG task name), else by template name, else by step name; with retries,
 * the latest attempt counts.
 */
export function applyWorkflow(record: IRunRecord, wf: IKubeObject): IRunRecord {
  const nodes = workflowNodes(wf).filter(n => n.type === 'Pod' || n.type === 'Skipped');
  const { status, message } = workflowStatus(wf);
  const wfStatus = isRecord(wf.status) ? wf.status : {};
  const steps = record.steps.map((step): IStepRecord => {
    const mine = nodes
      .filter(n => stepKey(n) === step.id || n.templateName === step.id || stepKey(n) === step.name)
      .sort((a, b) => (a.startedAt ?? '').localeCompare(b.startedAt ?? ''));
    const node = mine[mine.length - 1];
    if (!node) {
      if (isFinished(status) && !isFinished(step.status)) {
        return {
          ...step,
          status: status === 'cancelled' ? 'cancelled' : 'skipped',
          message: status === 'cancelled' ? 'the run was cancelled' : 'not run'
        };
      }
      return step;
    }
    let stepStatus = nodeStatus(node.phase);
    if (status === 'cancelled' && !isFinished(stepStatus)) {
      stepStatus = 'cancelled';
    } else if (
      status === 'cancelled' &&
      stepStatus === 'failed' &&
      /terminat|shutdown|stopped/i.test(node.message ?? '')
    ) {
      stepStatus = 'cancelled';
    } else if (isFinished(status) && !isFinished(stepStatus)) {
      stepStatus = 'failed';
    } else if (stepStatus === 'succeeded' && node.memoized) {
      stepStatus = 'cached';
    }
    return {
      ...step,
      status: stepStatus,
      startedAt: node.startedAt ?? step.startedAt,
      finishedAt: isFinished(stepStatus) ? (node.finishedAt ?? step.finishedAt) : null,
      exitCode: node.exitCode,
      message: isSuccess(stepStatus) ? null : (node.message ?? step.message)
    };
  });
  return {
    ...record,
    status,
    message: status === 'succeeded' ? null : message,
    startedAt: str(wfStatus.startedAt) ?? record.startedAt,
    finishedAt: isFinished(status) ? (str(wfStatus.finishedAt) ?? new Date().toISOString()) : null,
    steps
  };
}

/** FNV-1a 32-bit, as Argo uses for its v2 pod names. */
function fnv32a(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf-8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Pod names Argo may have given a node (v2 naming, then v1 = node id). */
export function podNameCandidates(workflow: string, node: IWorkflowNode): string[] {
  const names: string[] = [];
  if (node.templateName) {
    let prefix = `${workflow}-${node.templateName}`;
    if (prefix.length > 253 - 11) {
      prefix = prefix.slice(0, 253 - 11);
    }
    names.push(`${prefix}-${fnv32a(node.name)}`);
  }
  names.push(node.id);
  return names;
}

export namespace Monitor {
  export interface IOptions {
    /** Called with every event (run-started first, run-finished last). */
    onEvent?: (event: RunEvent) => void;
    /** Progress messages (reconnects, relists, log problems). */
    onProgress?: (message: string) => void;
    /** Keep the record and the logs here. */
    store?: RunRecordStore;
    /** Reconnect a watch that has been silent this long (ms). */
    idleMs?: number;
    /** Server-side watch time-out (seconds). */
    watchTimeoutSeconds?: number;
    /** Give up after this many consecutive failed (re)connects. */
    maxFailures?: number;
    /** Fetch step logs (default true). */
    logs?: boolean;
    /** Backoff between failed (re)connects (default: the shared policy). */
    retry?: Partial<IRetryPolicy>;
  }
}

/** Follow the Workflow `record.cluster.workflow` to its end. Resolves with the final record. */
export async function followWorkflow(
  client: IKubeClient,
  initial: IRunRecord,
  options: Monitor.IOptions = {}
): Promise<IRunRecord> {
  return new Private.Follower(client, initial, options).run();
}

/** Stop a run: `spec.shutdown: Terminate` (running steps are killed, nothing new starts). */
export async function cancelWorkflow(client: IKubeClient, name: string): Promise<void> {
  try {
    await client.patch(WORKFLOWS, name, { spec: { shutdown: 'Terminate' } });
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404 && error.reason !== 'NotInstalled') {
      throw new KubeApiError(
        `no run "${name}" in namespace "${client.namespace}"`,
        error.operation,
        404,
        error.reason
      );
    }
    throw error;
  }
}

/** Fetch the log of the pod that ran `node` (container "main"); null when no pod is found. */
export async function fetchNodeLog(
  client: IKubeClient,
  workflow: string,
  node: IWorkflowNode,
  pods?: IKubeObject[]
): Promise<string | null> {
  let candidates = podNameCandidates(workflow, node);
  if (pods) {
    const match = pods.find(p => {
      const ann = p.metadata?.annotations ?? {};
      return (
        ann['workflows.argoproj.io/node-id'] === node.id ||
        ann['workflows.argoproj.io/node-name'] === node.name
      );
    });
    const names = new Set(pods.map(p => p.metadata?.name));
    const listed = candidates.filter(c => names.has(c));
    candidates = match?.metadata?.name
      ? [match.metadata.name]
      : listed.length > 0
        ? listed
        : candidates;
  }
  for (const pod of candidates) {
    try {
      return await client.podLog(pod, 'main');
    } catch (error) {
      // No such pod (gone, or another naming scheme), or no log (yet): try the next name.
      if (!(error instanceof KubeApiError) || (error.status !== 404 && error.status !== 400)) {
        throw error;
      }
    }
  }
  return null;
}

/** List the pods of a workflow (null when listing is refused). */
export async function workflowPods(
  client: IKubeClient,
  workflow: string
): Promise<IKubeObject[] | null> {
  try {
    return (
      await client.list(PODS, { labelSelector: `workflows.argoproj.io/workflow=${workflow}` })
    ).items;
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 403) {
      return null;
    }
    throw error;
  }
}

namespace Private {
  type StepFinished = Extract<RunEvent, { event: 'step-finished' }>;

  /** Where a follow stands between watches. */
  interface IWatchState {
    /** The resourceVersion to watch from; null: list first. */
    rv: string | null;
    /** Consecutive failed (re)connects. */
    failures: number;
    /** Consecutive watches that closed within a second. */
    quickCloses: number;
  }

  /** How one watch ended. */
  interface IWatched {
    end: WatchEnd;
    deleted: boolean;
    openedAt: number;
  }

  export class Follower {
    private _record: IRunRecord;
    private _wf: IKubeObject | null = null;
    private _logs: Promise<void> = Promise.resolve();
    private _saving: Promise<void> = Promise.resolve();
    private readonly _logged = new Set<string>();
    private readonly _name: string;

    constructor(
      private readonly _client: IKubeClient,
      initial: IRunRecord,
      private readonly _options: Monitor.IOptions
    ) {
      this._record = initial;
      const name = initial.cluster?.workflow;
      if (!name) {
        throw new Error('the run record names no Workflow');
      }
      this._name = name;
    }

    private _emit(event: RunEvent): void {
      this._options.onEvent?.(event);
    }

    private _progress(message: string): void {
      this._options.onProgress?.(message);
      this._emit({
        event: 'progress',
        run: this._record.id,
        time: new Date().toISOString(),
        message
      });
    }

    /** Queue a write of the record as it is now (writes stay in order). */
    private _save(): void {
      const store = this._options.store;
      if (!store) {
        return;
      }
      const record = this._record;
      this._saving = this._saving.then(() =>
        store.writeRecord(record).catch((error: unknown) => {
          this._progress(`cannot save the run record: ${errorText(error)}`);
        })
      );
    }

    private _apply(wf: IKubeObject): void {
      this._wf = wf;
      const before = this._record;
      const after = applyWorkflow(before, wf);
      this._record = after;
      const time = new Date().toISOString();
      const events = diffEvents(before, after, time);
      // Logs of newly finished steps are fetched before run-finished is reported. A failed
      // step is reported once its log is read: the runtime's last line there says which cell
      // and line failed.
      const finishedRun = events.find(e => e.event === 'run-finished');
      const failed = new Map<string, StepFinished>();
      for (const e of events) {
        if (e.event === 'step-finished' && e.status === 'failed') {
          failed.set(e.step, e);
        } else if (e.event !== 'run-finished') {
          this._emit(e);
        }
      }
      for (const step of after.steps) {
        if (isFinished(step.status) && step.status !== 'skipped' && !this._logged.has(step.id)) {
          this._queueLog(step.id, failed.get(step.name));
          failed.delete(step.name);
        }
      }
      for (const e of failed.values()) {
        this._emit(e);
      }
      this._save();
      if (finishedRun) {
        this._logs = this._logs.then(() => this._emit(finishedRun));
      }
    }

    /** Where the runtime says a failed step failed (its CHARD_ERROR line), into the record. */
    private _locate(step: IStepRecord, lines: string[], finished: StepFinished): StepFinished {
      const error = parseStepError(lines);
      if (!error) {
        return finished;
      }
      const where = {
        cell: error.cell,
        line: error.line,
        message: `${error.type}: ${error.message}`
      };
      this._record = {
        ...this._record,
        steps: this._record.steps.map(s => (s.id === step.id ? { ...s, ...where } : s))
      };
      this._save();
      return { ...finished, ...where };
    }

    private _queueLog(stepId: string, finished?: StepFinished): void {
      if (this._options.logs === false) {
        if (finished) {
          this._emit(finished);
        }
        return;
      }
      const wf = this._wf;
      const step = this._record.steps.find(s => s.id === stepId);
      const node = wf
        ? workflowNodes(wf)
            .filter(n => n.type === 'Pod' && (stepKey(n) === stepId || n.templateName === stepId))
            .sort((a, b) => (a.startedAt ?? '').localeCompare(b.startedAt ?? ''))
            .pop()
        : undefined;
      if (!node || !step) {
        if (finished) {
          this._emit(finished);
        }
        return;
      }
      this._logged.add(stepId);
      let report = finished;
      this._logs = this._logs.then(async () => {
        try {
          const pods = await workflowPods(this._client, this._name);
          const text = await fetchNodeLog(this._client, this._name, node, pods ?? undefined);
          if (text === null) {
            this._progress(`no pod log for step "${step.name}" (its pod is gone)`);
            return;
          }
          // What the step showed travels on one line of its log: kept apart, as a local
          // step's runtime keeps it, and not shown as a log line.
          const { log, outputs } = splitOutputsLine(text);
          await this._options.store?.writeLog(this._record.id, step.id, log);
          if (outputs) {
            await this._options.store?.writeOutputs(this._record.id, step.id, outputs);
          }
          const time = new Date().toISOString();
          const lines = log === '' ? [] : log.replace(/\n$/, '').split('\n');
          if (report) {
            report = this._locate(step, lines, report);
          }
          for (const line of lines) {
            this._emit({
              event: 'log',
              run: this._record.id,
              time,
              step: step.name,
              stream: 'stdout',
              line
            });
          }
        } catch (error) {
          this._progress(`cannot fetch the log of step "${step.name}": ${errorText(error)}`);
        } finally {
          if (report) {
            this._emit(report);
          }
        }
      });
    }

    private async _list(): Promise<string> {
      const listed = await this._client.list(WORKFLOWS, {
        fieldSelector: `metadata.name=${this._name}`
      });
      const wf = listed.items.find(i => i.metadata?.name === this._name);
      if (!wf) {
        throw new KubeApiError(
          `the Workflow "${this._name}" no longer exists in namespace "${this._client.namespace}" (deleted?)`,
          { verb: 'list', resource: 'workflows.argoproj.io', namespace: this._client.namespace },
          404,
          'NotFound'
        );
      }
      this._apply(wf);
      return listed.resourceVersion || wf.metadata?.resourceVersion || '';
    }

    /** Follow the Workflow to its end: list, watch, and reconnect (or relist) until it finishes. */
    async run(): Promise<IRunRecord> {
      this._emit(runStartedEvent(this._record));
      const state: IWatchState = { rv: null, failures: 0, quickCloses: 0 };
      while (!isFinished(this._record.status)) {
        if (state.rv === null) {
          await this._relist(state);
          continue;
        }
        const watched = await this._watchOnce(state.rv, state);
        if (isFinished(this._record.status)) {
          break;
        }
        await this._reconnect(watched, state);
      }
      await this._logs;
      this._save();
      await this._saving;
      return this._record;
    }

    /** List the Workflow (the starting point of a watch), backing off on transient failures. */
    private async _relist(state: IWatchState): Promise<void> {
      try {
        state.rv = await this._list();
        state.failures = 0;
      } catch (error) {
        if (
          error instanceof KubeApiError &&
          error.failure &&
          isTransient(error.failure) &&
          ++state.failures < (this._options.maxFailures ?? 12)
        ) {
          await sleep(backoffDelay(state.failures, error.failure, this._policy));
          return;
        }
        throw error;
      }
    }

    /**
     * One watch from `from`, applying every change, until it ends: closed by the server, expired,
     * failed, silent for too long, the Workflow deleted, or the run finished.
     */
    private async _watchOnce(from: string, state: IWatchState): Promise<IWatched> {
      const idleMs = this._options.idleMs ?? 120000;
      let deleted = false;
      let handle: IWatchHandle | null = null;
      let idle: NodeJS.Timeout | null = null;
      const touch = (): void => {
        if (idle) {
          clearTimeout(idle);
        }
        idle = setTimeout(() => handle?.stop(), idleMs);
      };
      const openedAt = Date.now();
      handle = this._client.watch(
        WORKFLOWS,
        {
          fieldSelector: `metadata.name=${this._name}`,
          resourceVersion: from,
          timeoutSeconds: this._options.watchTimeoutSeconds ?? 300
        },
        event => {
          touch();
          const newRv = event.object.metadata?.resourceVersion;
          if (newRv) {
            state.rv = newRv;
          }
          if (event.type === 'BOOKMARK') {
            return;
          }
          if (event.type === 'DELETED') {
            deleted = true;
            handle?.stop();
            return;
          }
          if (event.object.metadata?.name === this._name) {
            this._apply(event.object);
            if (isFinished(this._record.status)) {
              handle?.stop();
            }
          }
        }
      );
      touch();
      const end: WatchEnd = await handle.done;
      if (idle) {
        clearTimeout(idle);
      }
      return { end, deleted, openedAt };
    }

    /** After a watch ended early: fail, relist, back off, or go on from the last version. */
    private async _reconnect(watched: IWatched, state: IWatchState): Promise<void> {
      const { end } = watched;
      if (watched.deleted) {
        throw new KubeApiError(
          `the Workflow "${this._name}" was deleted before it finished`,
          { verb: 'watch', resource: 'workflows.argoproj.io', namespace: this._client.namespace },
          404,
          'NotFound'
        );
      }
      if (end.kind === 'expired') {
        this._progress('watch expired (410 Gone); listing the Workflow again');
        state.rv = null;
        return;
      }
      if (end.kind === 'error') {
        const f = end.error.failure;
        if (!isTransient(f) || ++state.failures >= (this._options.maxFailures ?? 12)) {
          throw end.error;
        }
        const delay = backoffDelay(state.failures, f, this._policy);
        this._progress(
          `watch failed (${f.status ?? f.code}); reconnecting in ${(delay / 1000).toFixed(1)}s`
        );
        await sleep(delay);
        state.rv = null;
        return;
      }
      // Closed: reconnect from the last seen resourceVersion. A watch that keeps closing at
      // once is treated as a failure (back off, then relist).
      if (Date.now() - watched.openedAt < 1000) {
        state.quickCloses++;
        if (state.quickCloses >= 3) {
          await sleep(
            backoffDelay(
              Math.min(state.quickCloses, 6),
              { status: 500, code: null, retryAfterSeconds: null },
              DEFAULT_RETRY
            )
          );
          state.rv = null;
        }
      } else {
        state.quickCloses = 0;
        state.failures = 0;
      }
    }

    private get _policy(): IRetryPolicy {
      return { ...DEFAULT_RETRY, ...this._options.retry };
    }
  }
}
