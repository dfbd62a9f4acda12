/**
 * The HTTP API between the JupyterLab frontend and Chard's Node backend, typed once for both
 * ends. The browser calls `/chard/api/<endpoint>` on the Jupyter server; the server extension
 * (jupyterlab_chard) checks Jupyter's authentication and XSRF token and forwards the request to
 * the backend, which serves the same paths. Pure data and guards: no DOM, no Node.
 */
import type {
  ICopyOutputsRequest,
  IResumeRunRequest,
  IRunOutput,
  IRunSummary,
  IStartRunRequest
} from './api.js';
import type { IDiagnostic, IPlan } from './plan.js';
import type { IStepOutputs } from './richoutputs.js';
import type { IRunRecord, RunBackend } from './runs.js';

export type { IRichOutput, IRichOutputsTruncated, IStepOutputs } from './richoutputs.js';
export type {
  ICompileResponse,
  ICopyOutputsRequest,
  ICopyOutputsResult,
  IRunDetails,
  IRunEventEnvelope,
  IRunOutput,
  IRunSummary,
  IStartRunRequest
} from './api.js';

/** Where the API lives, below the Jupyter server's base URL. */
export const API_PREFIX = '/chard/api';

/** The header that carries the backend's per-process secret (set by the server extension). */
export const SECRET_HEADER = 'x-chard-secret';

/**
 * What every error response holds. The codes a client can act on:
 * - `not-found`: no such endpoint (or no such file, with `no-such-file`);
 * - `forbidden`: no or a wrong backend secret; `outside-root`: a path that leaves the Jupyter root;
 * - `bad-request`, `invalid-notebook`, `method-not-allowed`, `too-large`, `internal`;
 * - `conflict` (409): the run is not in a state that allows it (still running, not local ...);
 * - `backend-starting`, `backend-restarting`, `backend-down`: answered by the server extension
 *   while the backend cannot answer (HTTP 503);
 * - TensorBoard: `tensorboard-not-installed` (the message has the install command),
 *   `tensorboard-not-in-cluster` (no Kubeflow Tensorboard CRD), `tensorboard-failed`,
 *   `tensorboard-timeout`, `no-logs` (no event files in the runs), `no-such-run`.
 */
export type ApiErrorCode =
  | 'not-found'
  | 'no-such-file'
  | 'forbidden'
  | 'outside-root'
  | 'bad-request'
  | 'invalid-notebook'
  | 'conflict'
  | 'method-not-allowed'
  | 'too-large'
  | 'internal'
  | 'backend-starting'
  | 'backend-restarting'
  | 'backend-down'
  | 'tensorboard-not-installed'
  | 'tensorboard-not-in-cluster'
  | 'tensorboard-failed'
  | 'tensorboard-timeout'
  | 'no-logs'
  | 'logs-unreachable'
  | 'no-such-run';

export interface IApiError {
  error: {
    code: ApiErrorCode;
    message: string;
    /** `invalid-notebook`: the notebook's errors, each on its cell and line. */
    diagnostics?: IDiagnostic[];
  };
}

/** The backend's state as the sidebar shows it. */
export type BackendState = 'ready' | 'starting' | 'restarting' | 'down';

/** `GET /chard/api/health`. */
export interface IHealthResponse {
  state: BackendState;
  /** Chard's version (the npm package's). */
  version: string;
  /** The backend process's id. */
  pid: number;
  /** Seconds since the backend started. */
  uptimeSeconds: number;
  /** HTTP requests the backend has received, this one included (any secret or none). */
  requests: number;
}

/** `POST /chard/api/analyze`: a notebook path relative to the Jupyter server's root. */
export interface IAnalyzeRequest {
  path: string;
}

/** The plan of the notebook, as `chard analyze --json` prints it. */
export type IAnalyzeResponse = IPlan;

/**
 * `POST /chard/api/compile`: the notebook path relative to the Jupyter root; answers
 * `ICompileResponse` (`{text, target, warnings}`).
 */
export interface ICompileHttpRequest {
  path: string;
  target: 'argo' | 'kfp';
  parameters?: IStartRunRequest['parameters'];
  image?: string;
  valueDigest?: 'crc32' | 'sha256';
}

/**
 * `POST /chard/api/runs`: as the service's request, with `notebook` relative to the Jupyter
 * root; answers 201 with the run's `IRunDetails` (paths relative to the root) once it exists.
 */
export type IStartRunHttpRequest = IStartRunRequest;

/**
 * `POST /chard/api/runs/prepare`, with the body of a run's start: get ready to run the notebook
 * (for a local run, an interpreter with its imports loaded); answers once ready. Nothing runs.
 */
export interface IPrepareRunResponse {
  /** Whether a run started now starts its steps at once. */
  ready: boolean;
  /** The modules already loaded for the steps. */
  preloaded: string[];
}

/** `GET /chard/api/runs?notebook=&backend=`: newest first. */
export interface IRunListResponse {
  runs: IRunSummary[];
}

/** `POST /chard/api/runs/{id}/resume`: `from` re-runs that step and what follows it. */
export interface IResumeRunHttpRequest extends IResumeRunRequest {
  from?: string;
}

/** `POST /chard/api/runs/{id}/cancel`. */
export interface ICancelRunResponse {
  /** The run as it is after the cancel. */
  record: IRunRecord | null;
  how: 'already-finished' | 'requested' | 'stopped';
}

/** A piece of a step's log. */
export interface ILogChunk {
  step: string;
  text: string;
  /** No more text follows for this step. */
  final: boolean;
}

/** `GET /chard/api/runs/{id}/logs` without `follow`. */
export interface ILogsResponse {
  chunks: ILogChunk[];
}

/** `GET /chard/api/runs/{id}/outputs`. */
export interface IRunOutputsResponse {
  outputs: IRunOutput[];
}

export type ICopyOutputsHttpRequest = ICopyOutputsRequest;

/**
 * `GET /chard/api/runs/{id}/steps/{step}/outputs`: what the step's cells showed (MIME bundles,
 * as a kernel sends them), not the files it wrote (those are `/runs/{id}/outputs`).
 */
export type IStepOutputsResponse = IStepOutputs;

/** The SSE event names: run events on `/events`, log chunks on `/logs?follow=1`. */
export const SSE_RUN_EVENT = 'run-event';
export const SSE_LOG_EVENT = 'log';
/** Sent on a stream that fails after it began (data: `IApiError`). */
export const SSE_ERROR_EVENT = 'error';

/** The backends a run may target. */
export const RUN_BACKENDS: readonly RunBackend[] = ['local', 'argo', 'kfp'];

const ERROR_CODES: ReadonlySet<string> = new Set<ApiErrorCode>([
  'not-found',
  'no-such-file',
  'forbidden',
  'outside-root',
  'bad-request',
  'invalid-notebook',
  'conflict',
  'method-not-allowed',
  'too-large',
  'internal',
  'backend-starting',
  'backend-restarting',
  'backend-down',
  'tensorboard-not-installed',
  'tensorboard-not-in-cluster',
  'tensorboard-failed',
  'tensorboard-timeout',
  'no-logs',
  'logs-unreachable',
  'no-such-run'
]);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One diagnostic as the API sends it. */
export function isDiagnostic(value: unknown): value is IDiagnostic {
  return (
    isObject(value) &&
    (value.severity === 'error' || value.severity === 'warning') &&
    (value.cell === null || typeof value.cell === 'number') &&
    (value.line === null || typeof value.line === 'number') &&
    typeof value.message === 'string'
  );
}

/** True for a body of the shape `{error: {code, message, diagnostics?}}` with a known code. */
export function isApiError(value: unknown): value is IApiError {
  if (!isObject(value) || !isObject(value.error)) {
    return false;
  }
  const { code, message, diagnostics } = value.error;
  return (
    typeof code === 'string' &&
    ERROR_CODES.has(code) &&
    typeof message === 'string' &&
    (diagnostics === undefined || (Array.isArray(diagnostics) && diagnostics.every(isDiagnostic)))
  );
}

export function isHealthResponse(value: unknown): value is IHealthResponse {
  return (
    isObject(value) &&
    (value.state === 'ready' ||
      value.state === 'starting' ||
      value.state === 'restarting' ||
      value.state === 'down') &&
    typeof value.version === 'string' &&
    typeof value.pid === 'number' &&
    typeof value.uptimeSeconds === 'number' &&
    typeof value.requests === 'number'
  );
}

export function isAnalyzeRequest(value: unknown): value is IAnalyzeRequest {
  return isObject(value) && typeof value.path === 'string';
}

/** Enough of a plan to trust it came from `analyze`: steps and diagnostics are lists. */
export function isAnalyzeResponse(value: unknown): value is IAnalyzeResponse {
  return isObject(value) && Array.isArray(value.steps) && Array.isArray(value.diagnostics);
}

type Check = (value: unknown) => boolean;

const isString: Check = v => typeof v === 'string';
const isBool: Check = v => typeof v === 'boolean';
const isWhole =
  (min: number): Check =>
  v =>
    Number.isSafeInteger(v) && (v as number) >= min;
const isNumber: Check = v => typeof v === 'number' && Number.isFinite(v);
const oneOf =
  (...values: unknown[]): Check =>
  v =>
    values.includes(v);
const listOf =
  (check: Check): Check =>
  v =>
    Array.isArray(v) && v.every(check);

/** An object whose keys are all known, the required ones present, each value of its type. */
function shaped(
  value: unknown,
  fields: Record<string, Check>,
  required: readonly string[] = []
): boolean {
  return (
    isObject(value) &&
    required.every(k => k in value) &&
    Object.entries(value).every(([k, v]) => k in fields && fields[k](v))
  );
}

const isParameters: Check = v =>
  isObject(v) && Object.values(v).every(x => isString(x) || isBool(x) || isNumber(x));
const isDigest = oneOf('crc32', 'sha256');

const isLocalOptions: Check = v =>
  shaped(v, {
    python: isString,
    parallel: isWhole(1),
    exclude: listOf(isString),
    maxSnapshot: isString,
    snapshotMode: oneOf('auto', 'copy'),
    valueDigest: isDigest,
    noInfer: isBool,
    graceSeconds: v => isNumber(v) && (v as number) >= 0,
    from: f => shaped(f, { step: isString, run: isString }, ['step'])
  });

const isArgoOptions: Check = v =>
  shaped(v, {
    context: isString,
    kubeconfig: isString,
    namespace: isString,
    image: isString,
    valueDigest: isDigest,
    workspace: oneOf('snapshot', 'live', 'none'),
    snapshotClass: isString,
    snapshotTimeoutSeconds: isWhole(1),
    snapshotPvc: listOf(isString)
  });

const isKfpOptions: Check = v =>
  shaped(v, {
    endpoint: isString,
    tokenFile: isString,
    experiment: isString,
    namespace: isString,
    image: isString,
    valueDigest: isDigest
  });

export function isCompileHttpRequest(value: unknown): value is ICompileHttpRequest {
  return shaped(
    value,
    {
      path: isString,
      target: oneOf('argo', 'kfp'),
      parameters: isParameters,
      image: isString,
      valueDigest: isDigest
    },
    ['path', 'target']
  );
}

export function isStartRunHttpRequest(value: unknown): value is IStartRunHttpRequest {
  return shaped(
    value,
    {
      notebook: isString,
      target: oneOf(...RUN_BACKENDS),
      parameters: isParameters,
      local: isLocalOptions,
      argo: isArgoOptions,
      kfp: isKfpOptions
    },
    ['notebook', 'target']
  );
}

export function isResumeRunHttpRequest(value: unknown): value is IResumeRunHttpRequest {
  return shaped(value, { local: isLocalOptions, from: isString });
}

export function isCopyOutputsHttpRequest(value: unknown): value is ICopyOutputsHttpRequest {
  return shaped(value, { paths: listOf(isString), force: isBool });
}
