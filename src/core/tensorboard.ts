/**
 * The TensorBoard part of Chard's HTTP API, typed once for the backend and the JupyterLab panel.
 * Pure data and guards: no DOM, no Node.
 */

/** Where a local TensorBoard is served, below the Jupyter server's base URL. */
export const TENSORBOARD_PREFIX = '/chard/tensorboard';

/** A log directory as the panel shows it: TensorBoard's name for it and its path. */
export interface ITensorBoardLogDir {
  name: string;
  /** Relative to the Jupyter server's root (local), or a `pvc://` path (cluster). */
  path: string;
}

/**
 * `POST /chard/api/tensorboard/open`. Either `runs` of the notebook `notebook` (their log
 * directories are found in each run's workspace), or explicit `logdirs` (paths relative to the
 * Jupyter root). `target: 'cluster'` creates a Kubeflow Tensorboard on the run's volume instead.
 */
export interface ITensorBoardOpenRequest {
  notebook?: string;
  runs?: string[];
  logdirs?: ITensorBoardLogDir[];
  target?: 'local' | 'cluster';
  /** Cluster: the volume claim and the path on it (default: the run's own volume, its root). */
  claim?: string;
  path?: string;
}

/** The answer to `open`: what the panel shows. */
export interface ITensorBoardSession {
  /** Local: the TensorBoard's id; cluster: the Tensorboard resource's name. */
  id: string;
  target: 'local' | 'cluster';
  /**
   * Local: the path below the Jupyter base URL (`chard/tensorboard/<id>/`); cluster: Kubeflow's
   * absolute path (`/tensorboard/<namespace>/<name>/`).
   */
  url: string;
  logdirs: ITensorBoardLogDir[];
  /** Local: true when this open started TensorBoard, false when a running one was reused. */
  started: boolean;
}

/** `POST /chard/api/tensorboard/close`: a panel on `id` closed. */
export interface ITensorBoardCloseRequest {
  id: string;
  target?: 'local' | 'cluster';
}

/** One run of a notebook the picker lists. */
export interface ITensorBoardRunChoice {
  id: string;
  status: string;
  createdAt: string;
  backend: string;
  /** The run's log directories (relative to its workspace); empty: no event files. */
  logdirs: string[];
}

/** `GET /chard/api/tensorboard/runs?notebook=PATH`. */
export interface ITensorBoardRunsResponse {
  runs: ITensorBoardRunChoice[];
}

/** `GET /chard/api/tensorboard/target?id=ID`: the forwarder's question. */
export interface ITensorBoardTarget {
  port: number;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every(v => typeof v === 'string');
}

export function isLogDir(value: unknown): value is ITensorBoardLogDir {
  return isObject(value) && typeof value.name === 'string' && typeof value.path === 'string';
}

export function isTensorBoardOpenRequest(value: unknown): value is ITensorBoardOpenRequest {
  return (
    isObject(value) &&
    (value.notebook === undefined || typeof value.notebook === 'string') &&
    (value.runs === undefined || isStringList(value.runs)) &&
    (value.logdirs === undefined ||
      (Array.isArray(value.logdirs) && value.logdirs.every(isLogDir))) &&
    (value.target === undefined || value.target === 'local' || value.target === 'cluster') &&
    (value.claim === undefined || typeof value.claim === 'string') &&
    (value.path === undefined || typeof value.path === 'string')
  );
}

export function isTensorBoardCloseRequest(value: unknown): value is ITensorBoardCloseRequest {
  return (
    isObject(value) &&
    typeof value.id === 'string' &&
    (value.target === undefined || value.target === 'local' || value.target === 'cluster')
  );
}

export function isTensorBoardSession(value: unknown): value is ITensorBoardSession {
  return (
    isObject(value) &&
    typeof value.id === 'string' &&
    (value.target === 'local' || value.target === 'cluster') &&
    typeof value.url === 'string' &&
    Array.isArray(value.logdirs) &&
    value.logdirs.every(isLogDir) &&
    typeof value.started === 'boolean'
  );
}

export function isTensorBoardRunsResponse(value: unknown): value is ITensorBoardRunsResponse {
  return (
    isObject(value) &&
    Array.isArray(value.runs) &&
    value.runs.every(
      r =>
        isObject(r) &&
        typeof r.id === 'string' &&
        typeof r.status === 'string' &&
        typeof r.createdAt === 'string' &&
        typeof r.backend === 'string' &&
        isStringList(r.logdirs)
    )
  );
}

/** The command that installs TensorBoard for a Python. */
export function tensorBoardInstallCommand(python: string): string {
  return `${python} -m pip install tensorboard`;
}
