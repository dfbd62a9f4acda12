/**
 * What the run service asks of a backend (local, Argo, KFP). Each backend implements
 * IRunBackend in its own folder and imports only this file, src/core and src/server/common;
 * backends never import one another.
 */
import type { IResumeRunRequest, IStartRunRequest } from '../../core/api.js';
import type { IPrepareRunResponse } from '../../core/httpapi.js';
import type { IPlan } from '../../core/plan.js';
import type { IRunRecord, RunBackend, RunEvent } from '../../core/runs.js';

/** How a backend reports on a run it starts. */
export interface IRunHooks {
  /** A note before the run exists (which Python, which cluster ...); not part of the run's events. */
  progress(message: string): void;
  /** The run exists: its folder and its first record. Events before this are held back. */
  created(dir: string, record: IRunRecord): void;
  /** One event of the run, in order. */
  event(event: RunEvent): void;
  /** Find a run by id, unique id prefix or folder (for --from's source run). */
  locate(spec: string): Promise<IRunLocation>;
}

/** What a backend is given to start a run. */
export interface IStartInput {
  request: IStartRunRequest;
  /** The notebook, analysed. */
  plan: IPlan;
  /** The notebook's metadata (its kernel ...). */
  metadata: Record<string, unknown>;
}

/** A run a backend has started. */
export interface IStartedRun {
  dir: string;
  record: IRunRecord;
  /** Settles with the final record when the run is over (or when it is no longer followed). */
  done: Promise<IRunRecord>;
}

/** A run's folder and record, as the service found them. */
export interface IRunLocation {
  dir: string;
  record: IRunRecord;
}

/** Part of a step's log. */
export interface ILogChunk {
  /** The step's name. */
  step: string;
  text: string;
  /** No more text follows for this step (its last line may have no newline). */
  final: boolean;
}

/** Cluster access for cluster backends (the notebook settings give the rest). */
export interface IClusterAccess {
  context?: string;
  kubeconfig?: string;
  namespace?: string;
  kfpEndpoint?: string;
  kfpTokenFile?: string;
}

export namespace RunBackendApi {
  export interface IStartOptions {
    /** Follow the run to its end in this process (default true). */
    follow?: boolean;
  }

  export interface ILogOptions {
    /** One step (name or id); default: every step. */
    step?: string;
    /** Keep reading until the run ends. */
    follow?: boolean;
    signal?: AbortSignal;
    cluster?: IClusterAccess;
    /** The run's record now, settled (while following). */
    record: () => Promise<IRunRecord>;
  }

  export interface ICancelOptions {
    graceSeconds?: number;
    cluster?: IClusterAccess;
  }

  export interface ICancelResult {
    record: IRunRecord | null;
    /** already-finished: nothing to do; requested: the backend was asked; stopped: it is over. */
    how: 'already-finished' | 'requested' | 'stopped';
  }
}

export interface IRunBackend {
  readonly name: RunBackend;
  /** Start a run of `plan` (the analysed notebook); resolves once the run exists. */
  start(
    input: IStartInput,
    hooks: IRunHooks,
    options: RunBackendApi.IStartOptions
  ): Promise<IStartedRun>;
  /** Get ready to run `plan` soon (local: warm its interpreter); runs nothing. */
  prepare?(input: IStartInput): Promise<IPrepareRunResponse>;
  /** End what it keeps running between runs. */
  close?(): Promise<void>;
  /** Resume a finished run in place (local runs only). */
  resume?(
    run: IRunLocation,
    request: IResumeRunRequest,
    /** The notebook analysed again; null when it is gone (the run's own plan is used). */
    input: { plan: IPlan | null; metadata: Record<string, unknown> },
    hooks: IRunHooks
  ): Promise<IStartedRun>;
  /** Follow a run started elsewhere until it ends, reporting its events. */
  follow?(run: IRunLocation, hooks: IRunHooks): Promise<IRunRecord>;
  cancel(
    run: IRunLocation,
    options: RunBackendApi.ICancelOptions,
    emit: (event: RunEvent) => void
  ): Promise<RunBackendApi.ICancelResult>;
  logs(run: IRunLocation, options: RunBackendApi.ILogOptions): AsyncIterable<ILogChunk>;
  /**
   * The run's record as it truly is: a local run recorded as running whose runner is gone is
   * recorded as failed (or cancelled, if a cancel was asked for), with its events appended.
   */
  settle?(run: IRunLocation, emit: (event: RunEvent) => void): Promise<IRunRecord>;
}
