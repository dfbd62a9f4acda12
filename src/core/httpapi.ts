/**
 * The HTTP API between the JupyterLab frontend and Chard's Node backend, typed once for both
 * ends. The browser calls `/chard/api/<endpoint>` on the Jupyter server; the server extension
 * (jupyterlab_chard) checks Jupyter's authentication and XSRF token and forwards the request to
 * the backend, which serves the same paths. Pure data and guards: no DOM, no Node.
 */
import type { IPlan } from './plan.js';

/** Where the API lives, below the Jupyter server's base URL. */
export const API_PREFIX = '/chard/api';

/** The header that carries the backend's per-process secret (set by the server extension). */
export const SECRET_HEADER = 'x-chard-secret';

/**
 * What every error response holds. The codes a client can act on:
 * - `not-found`: no such endpoint (or no such file, with `no-such-file`);
 * - `forbidden`: no or a wrong backend secret; `outside-root`: a path that leaves the Jupyter root;
 * - `bad-request`, `invalid-notebook`, `method-not-allowed`, `too-large`, `internal`;
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
  | 'no-such-run';

export interface IApiError {
  error: { code: ApiErrorCode; message: string };
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

const ERROR_CODES: ReadonlySet<string> = new Set<ApiErrorCode>([
  'not-found',
  'no-such-file',
  'forbidden',
  'outside-root',
  'bad-request',
  'invalid-notebook',
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
  'no-such-run'
]);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True for a body of the shape `{error: {code, message}}` with a known code. */
export function isApiError(value: unknown): value is IApiError {
  if (!isObject(value) || !isObject(value.error)) {
    return false;
  }
  const { code, message } = value.error;
  return typeof code === 'string' && ERROR_CODES.has(code) && typeof message === 'string';
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
