/**
 * The run service's requests and answers (src/server/service), shared by every way in: the
 * `chard` command, the HTTP API and the JupyterLab UI. Plain JSON data, so each type is also an
 * HTTP request or response body.
 */
import type { ParameterValue } from './plan.js';
import type { IRunRecord, RunBackend, RunEvent, RunStatus } from './runs.js';

/** Where a run goes. */
export type RunTarget = RunBackend;

/** How the workspace volumes reach the steps of a cluster run. */
export type WorkspaceMode = 'snapshot' | 'live' | 'none';

/** Options of a run on this machine. */
export interface ILocalRunOptions {
  /** The Python for the steps (default: the notebook's kernel, else python3). */
  python?: string;
  /** Steps running at once (default: the number of cores). */
  parallel?: number;
  /** Files left out of the snapshot, added to the notebook's `snapshot_exclude`. */
  exclude?: string[];
  /** Snapshot size limit, like "2GiB" (default: the notebook's setting, else 2GiB). */
  maxSnapshot?: string;
  snapshotMode?: 'auto' | 'copy';
  valueDigest?: 'crc32' | 'sha256';
  /** Order steps by `prev:` tags only, as Kale does. */
  noInfer?: boolean;
  /** SIGTERM-to-SIGKILL grace period when the run is cancelled, in seconds (default 5). */
  graceSeconds?: number;
  /** Re-run `step` and its descendants, reusing the values of run `run` (default: the latest). */
  from?: { step: string; run?: string };
}

/** Options of an Argo Workflows run. */
export interface IArgoRunOptions {
  context?: string;
  kubeconfig?: string;
  namespace?: string;
  /** Image for steps without an `image:` tag. */
  image?: string;
  valueDigest?: 'crc32' | 'sha256';
  workspace?: WorkspaceMode;
  snapshotClass?: string;
  snapshotTimeoutSeconds?: number;
  /** `NAME[:PATH]` PVCs to snapshot instead of the notebook pod's. */
  snapshotPvc?: string[];
}

/** Options of a Kubeflow Pipelines run. */
export interface IKfpRunOptions {
  endpoint?: string;
  tokenFile?: string;
  experiment?: string;
  namespace?: string;
  image?: string;
  valueDigest?: 'crc32' | 'sha256';
}

/** `start`: run a notebook. */
export interface IStartRunRequest {
  /** The notebook's path. */
  notebook: string;
  target: RunTarget;
  /** Parameter values by name, typed as the notebook declares them. */
  parameters?: Record<string, ParameterValue>;
  local?: ILocalRunOptions;
  argo?: IArgoRunOptions;
  kfp?: IKfpRunOptions;
}

/** `resume`: re-run the failed, skipped and cancelled steps of a local run, in place. */
export interface IResumeRunRequest {
  local?: ILocalRunOptions;
}

/** `list`: which runs. */
export interface IRunFilter {
  /** Runs of this notebook only (a path). */
  notebook?: string;
  backend?: RunBackend;
}

/** One run in a list. */
export interface IRunSummary {
  id: string;
  backend: RunBackend;
  pipeline: string;
  notebook: string;
  status: RunStatus;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  message: string | null;
  /** The run's folder (`.chard/runs/RUN` next to the notebook). */
  dir: string;
}

/** `get`: a run, with where its files are. */
export interface IRunDetails {
  record: IRunRecord;
  /** The run's folder (`.chard/runs/RUN` next to the notebook). */
  dir: string;
  /** The notebook's path (absolute). */
  notebook: string;
  /** Local runs: the folder the steps ran in and wrote their files to. */
  workspace: string | null;
  /**
   * From `start` and `resume`: this attempt's events come after this sequence number (0 for a
   * new run; a resumed run goes on numbering in its folder). Follow with `events(id, { after })`.
   */
  since?: number;
}

/** One event of a run, numbered: `events(id, { after: seq })` continues after it. */
export interface IRunEventEnvelope {
  /** 1, 2, 3 ... in the order the run emitted them. */
  seq: number;
  event: RunEvent;
}

/** A file a run's steps wrote into their workspace. */
export interface IRunOutput {
  /** Relative to the workspace (and to the notebook's folder, where a copy would go). */
  path: string;
  size: number;
  /** A file of that name already exists next to the notebook (with other content). */
  conflict: boolean;
}

/** `copyOutputs`: copy chosen outputs next to the notebook. */
export interface ICopyOutputsRequest {
  /** Files or folders relative to the workspace; empty: every output. */
  paths?: string[];
  /** Replace files next to the notebook that differ (otherwise the copy is refused). */
  force?: boolean;
}

export interface ICopyOutputsResult {
  /** Relative paths copied. */
  copied: string[];
  /** Where they went. */
  target: string;
}

/** `compile`: a notebook's manifest. */
export interface ICompileRequest {
  notebook: string;
  target: 'argo' | 'kfp';
  parameters?: Record<string, ParameterValue>;
  image?: string;
  valueDigest?: 'crc32' | 'sha256';
}

/** `compile`'s answer: the manifest and what the target could not express. */
export interface ICompileResponse {
  /** The manifest as YAML. */
  text: string;
  target: 'argo' | 'kfp';
  /** Settings the target ignored, modules the image may lack ..., one line each. */
  warnings: string[];
}

/** A problem the service reports: exit code 2 for a request that is wrong, 1 otherwise. */
export interface IServiceErrorBody {
  error: string;
  usage: boolean;
}
