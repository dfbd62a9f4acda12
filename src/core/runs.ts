/**
 * The run model shared by the local runner and the cluster (Argo / KFP) monitor, so the CLI and
 * the UI show both the same way. Plain JSON data.
 */
import { isRecord } from './notebook.js';

/**
 * `cached`: a cluster backend reused the step's earlier result instead of running it (Argo
 * memoization, KFP caching); it counts as succeeded.
 */
export type StepStatus =
  'pending' | 'running' | 'succeeded' | 'cached' | 'failed' | 'skipped' | 'cancelled';
export type RunStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type RunBackend = 'local' | 'argo' | 'kfp';

export interface IStepRecord {
  name: string;
  id: string;
  status: StepStatus;
  /** ISO 8601 times; null until known. */
  startedAt: string | null;
  finishedAt: string | null;
  exitCode: number | null;
  /** A one-line reason for failed/skipped/cancelled steps. */
  message: string | null;
  /** Where the failure came from in the notebook, when known. */
  cell: number | null;
  line: number | null;
  /** Metrics recorded by the step. */
  metrics: Record<string, number | string | boolean>;
  /** Names of the values the step produced. */
  outputs: string[];
}

export interface IRunRecord {
  version: 1;
  id: string;
  backend: RunBackend;
  pipeline: string;
  /** Path of the notebook (as given by the user). */
  notebook: string;
  status: RunStatus;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Parameter values the run used. */
  parameters: Record<string, number | string | boolean>;
  steps: IStepRecord[];
  message: string | null;
  /** Local runs: the runner's process id and each running step's (by step name). */
  pids?: { runner: number; steps: Record<string, number> };
  /** Cluster runs: namespace, Workflow name, KFP run id ... */
  cluster?: {
    namespace?: string;
    workflow?: string;
    kfpRunId?: string;
    /** The Kubeflow Pipelines API the run was submitted to (no credentials). */
    kfpEndpoint?: string;
    context?: string;
  };
}

/** One line of `--json` output (newline-delimited JSON events), for tools and the UI. */
export type RunEvent =
  | { event: 'run-started'; run: string; time: string; pipeline: string; steps: string[] }
  | { event: 'step-started'; run: string; time: string; step: string }
  | {
      event: 'step-finished';
      run: string;
      time: string;
      step: string;
      status: StepStatus;
      exitCode: number | null;
      message: string | null;
      cell: number | null;
      line: number | null;
    }
  | {
      event: 'log';
      run: string;
      time: string;
      step: string;
      stream: 'stdout' | 'stderr';
      line: string;
    }
  | {
      event: 'metric';
      run: string;
      time: string;
      step: string;
      name: string;
      value: number | string | boolean;
    }
  | { event: 'progress'; run: string; time: string; message: string }
  /** A running local step showed something new: what it showed so far can be read again. */
  | { event: 'step-outputs'; run: string; time: string; step: string }
  | { event: 'run-finished'; run: string; time: string; status: RunStatus; message: string | null };

/** A run is over when its status can no longer change. */
export function isFinished(status: RunStatus | StepStatus): boolean {
  return (
    status === 'succeeded' ||
    status === 'cached' ||
    status === 'failed' ||
    status === 'cancelled' ||
    status === 'skipped'
  );
}

/** A step whose values later steps can use: it ran to success, or its result was reused. */
export function isSuccess(status: StepStatus): boolean {
  return status === 'succeeded' || status === 'cached';
}

/** The run-started event of a run (every backend builds it here). */
export function runStartedEvent(record: IRunRecord, time = new Date().toISOString()): RunEvent {
  return {
    event: 'run-started',
    run: record.id,
    time,
    pipeline: record.pipeline,
    steps: record.steps.map(s => s.name)
  };
}

/** The step-finished event for a step as recorded. */
export function stepFinishedEvent(run: string, step: IStepRecord): RunEvent {
  return {
    event: 'step-finished',
    run,
    time: step.finishedAt ?? new Date().toISOString(),
    step: step.name,
    status: step.status,
    exitCode: step.exitCode,
    message: step.message,
    cell: step.cell,
    line: step.line
  };
}

/** The run-finished event of a run as recorded (its end time, else `time`). */
export function runFinishedEvent(
  record: IRunRecord,
  time = record.finishedAt ?? new Date().toISOString()
): RunEvent {
  return {
    event: 'run-finished',
    run: record.id,
    time,
    status: record.status,
    message: record.message
  };
}

/** The events that take a run from `before` to `after` (any backend). */
export function diffEvents(before: IRunRecord, after: IRunRecord, time: string): RunEvent[] {
  const events: RunEvent[] = [];
  const run = after.id;
  for (const [i, step] of after.steps.entries()) {
    const old = before.steps[i];
    const wasStarted = old.status !== 'pending';
    if (
      !wasStarted &&
      step.status !== 'pending' &&
      step.status !== 'skipped' &&
      step.status !== 'cancelled' &&
      step.status !== 'cached'
    ) {
      events.push({ event: 'step-started', run, time, step: step.name });
    }
    if (!isFinished(old.status) && isFinished(step.status)) {
      events.push({ ...stepFinishedEvent(run, step), time });
    }
  }
  if (!isFinished(before.status) && isFinished(after.status)) {
    events.push(runFinishedEvent(after, time));
  }
  return events;
}

/** The CHARD_ERROR line the runtime prints last on stderr when a cell fails. */
export interface IStepError {
  cell: number | null;
  line: number | null;
  type: string;
  message: string;
}

/** The failure the step runtime reported in `lines` (its stderr, or a pod's log), if any. */
export function parseStepError(lines: readonly string[]): IStepError | null {
  for (let i = lines.length - 1; i >= 0; i -= 1) {
    const line = lines[i];
    if (!line.startsWith('CHARD_ERROR ')) {
      continue;
    }
    try {
      const data: unknown = JSON.parse(line.slice('CHARD_ERROR '.length));
      if (isRecord(data)) {
        return {
          cell: typeof data.cell === 'number' ? data.cell : null,
          line: typeof data.line === 'number' ? data.line : null,
          type: typeof data.type === 'string' ? data.type : 'Error',
          message: typeof data.message === 'string' ? data.message : ''
        };
      }
    } catch {
      return null;
    }
  }
  return null;
}

export const STEP_STATUSES: ReadonlySet<string> = new Set<StepStatus>([
  'pending',
  'running',
  'succeeded',
  'cached',
  'failed',
  'skipped',
  'cancelled'
]);
export const RUN_STATUSES: ReadonlySet<string> = new Set<RunStatus>([
  'pending',
  'running',
  'succeeded',
  'failed',
  'cancelled'
]);
export const RUN_BACKENDS: ReadonlySet<string> = new Set<RunBackend>(['local', 'argo', 'kfp']);

const isStringOrNull = (value: unknown): value is string | null =>
  value === null || typeof value === 'string';
const isNumberOrNull = (value: unknown): value is number | null =>
  value === null || typeof value === 'number';

/** Type guard for a step of a run record (run.json, or an HTTP answer). */
export function isStepRecord(value: unknown): value is IStepRecord {
  return (
    isRecord(value) &&
    typeof value.name === 'string' &&
    typeof value.id === 'string' &&
    typeof value.status === 'string' &&
    STEP_STATUSES.has(value.status) &&
    isStringOrNull(value.startedAt) &&
    isStringOrNull(value.finishedAt) &&
    isStringOrNull(value.message) &&
    isNumberOrNull(value.cell) &&
    isNumberOrNull(value.line) &&
    isRecord(value.metrics) &&
    Array.isArray(value.outputs)
  );
}

/** Type guard for a run record (run.json, or an HTTP answer). */
export function isRunRecord(value: unknown): value is IRunRecord {
  return (
    isRecord(value) &&
    value.version === 1 &&
    typeof value.id === 'string' &&
    typeof value.backend === 'string' &&
    RUN_BACKENDS.has(value.backend) &&
    typeof value.pipeline === 'string' &&
    typeof value.notebook === 'string' &&
    typeof value.status === 'string' &&
    RUN_STATUSES.has(value.status) &&
    typeof value.createdAt === 'string' &&
    isRecord(value.parameters) &&
    Array.isArray(value.steps) &&
    value.steps.every(isStepRecord)
  );
}
