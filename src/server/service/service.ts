/**
 * The run service: the one front door to runs for the `chard` command, the HTTP API and the
 * JupyterLab UI. It analyses and compiles notebooks, starts runs on a backend (local, Argo,
 * KFP), numbers and keeps every event of a run in the run's folder, indexes run folders per
 * user so a run is found by its id from anywhere, follows events and logs, cancels, resumes,
 * and settles runs whose runner died.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import type {
  ICompileRequest,
  ICompileResponse,
  ICopyOutputsRequest,
  ICopyOutputsResult,
  IResumeRunRequest,
  IRunDetails,
  IRunEventEnvelope,
  IRunFilter,
  IRunOutput,
  IRunSummary,
  IStartRunRequest
} from '../../core/api.js';
import { compilePlan, CompileError } from '../../core/compile/index.js';
import type { IDiagnostic, IPlan } from '../../core/plan.js';
import type { IStepOutputs } from '../../core/richoutputs.js';
import { isCompilable, planWithParameterValues } from '../../core/plan.js';
import type { IRunRecord, RunBackend, RunEvent } from '../../core/runs.js';
import { isFinished } from '../../core/runs.js';
import { EventLog, followEvents } from '../common/events.js';
import type { IRunEntry } from '../common/records.js';
import { CHARD_DIR, findRuns, readRunRecord, RunRecordError, runPaths } from '../common/records.js';
import { readRichOutputs } from '../common/richoutputs.js';
import { RunIndex, stateDir } from '../common/runindex.js';
import { KfpError } from '../kfp/client.js';
import { KfpBackend } from '../kfp/backend.js';
import { ArgoBackend } from '../kube/backend.js';
import type { IClusterRun } from '../kube/backend.js';
import { ClusterConfigError } from '../kube/config.js';
import { KubeApiError } from '../kube/errors.js';
import { SnapshotError as ClusterSnapshotError } from '../kube/snapshot.js';
import { WorkspaceError } from '../kube/workspace.js';
import { LocalBackend } from '../local/backend.js';
import type { WarmInterpreters } from '../local/warm.js';
import type { IPrepareRunResponse } from '../../core/httpapi.js';
import { copyOutputs, listOutputs } from '../local/outputs.js';
import { PythonError } from '../local/python.js';
import { RunError } from '../local/runner.js';
import { SnapshotError } from '../local/snapshot.js';
import { ServiceError } from './errors.js';
import { analyzeFile, parameterValues } from './notebook.js';
import type {
  IClusterAccess,
  ILogChunk,
  IRunBackend,
  IRunHooks,
  IRunLocation,
  IStartedRun
} from './types.js';

export namespace RunService {
  export interface IOptions {
    /** Where the per-user run index lives (default: CHARD_STATE_DIR, else XDG state). */
    stateDir?: string;
    /** The backends (default: local, Argo, KFP). */
    backends?: IRunBackend[];
    /** Where runs recorded before the index are looked for (default: the current directory). */
    root?: string;
    /** Retries of cluster calls are reported here. */
    onRetry?: (message: string) => void;
    /**
     * Keep warm interpreters for local runs between runs (the long-lived backend; default
     * off: a CLI run preloads its own).
     */
    warmInterpreters?: WarmInterpreters.IOptions | false;
    /** Told when a run started by this service ends (its folder and final record). */
    onRunFinished?: (run: { dir: string; record: IRunRecord }) => void;
  }

  export interface IStartOptions {
    /** Notes before the run exists (which Python, which cluster, snapshot progress ...). */
    onProgress?: (message: string) => void;
    /** Follow a cluster run to its end in this process (default true). */
    follow?: boolean;
  }

  export interface IEventsOptions {
    /** Replay the events after this sequence number (default 0: every event). */
    after?: number;
    signal?: AbortSignal;
  }

  export interface ILogsOptions {
    step?: string;
    follow?: boolean;
    signal?: AbortSignal;
    cluster?: IClusterAccess;
  }

  export interface ICancelOptions {
    graceSeconds?: number;
    /** A cluster run not recorded here is cancelled by name with this access. */
    cluster?: IClusterAccess;
  }

  export interface ICancelResult {
    /** The run as it is after the cancel (null: a cluster run known only by name). */
    record: IRunRecord | null;
    how: 'already-finished' | 'requested' | 'stopped';
  }

  export interface IListOptions {
    /** Also every run of the user's index, wherever it is (default: runs under `root`). */
    all?: boolean;
    /** Runs under this directory (default: the service's root). */
    root?: string;
  }
}

/** The service with the three backends. */
export function createRunService(options: RunService.IOptions = {}): RunService {
  return new RunService(options);
}

export class RunService {
  constructor(options: RunService.IOptions = {}) {
    this._index = new RunIndex(options.stateDir ?? stateDir());
    this._root = options.root ?? process.cwd();
    this._onRunFinished = options.onRunFinished;
    const backends = options.backends ?? [
      new LocalBackend({ warm: options.warmInterpreters }),
      new ArgoBackend(options.onRetry),
      new KfpBackend(options.onRetry)
    ];
    backends.forEach(b => this.register(b));
  }

  /** Add (or replace) the backend for its target. */
  register(backend: IRunBackend): void {
    this._backends.set(backend.name, backend);
  }

  /** The user-level index of run folders. */
  get index(): RunIndex {
    return this._index;
  }

  /** A notebook's plan: steps, data flow, parameters, diagnostics. */
  async analyze(notebook: string, options: { noInfer?: boolean } = {}): Promise<IPlan> {
    return (await analyzeFile(notebook, { ...options, fileName: notebook })).plan;
  }

  /** A notebook's manifest for a cluster target (YAML text). */
  async compile(request: ICompileRequest): Promise<string> {
    return (await this.compileManifest(request)).text;
  }

  /** A notebook's manifest for a cluster target, with what the target could not express. */
  async compileManifest(request: ICompileRequest): Promise<ICompileResponse> {
    const plan = await this.analyze(request.notebook);
    Private.refuseErrors(request.notebook, plan, 'nothing was compiled');
    const values = parameterValues(plan, request.parameters ?? {});
    const withValues = planWithParameterValues(plan, values);
    try {
      const result = compilePlan(withValues, request.target, {
        ...(request.image ? { image: request.image } : {}),
        ...(request.valueDigest ? { valueDigest: request.valueDigest } : {})
      });
      return { text: result.text, target: result.target, warnings: result.warnings };
    } catch (error) {
      throw Private.serviceError(error);
    }
  }

  /**
   * Start a run. Resolves as soon as the run exists (its record and folder); the run goes on in
   * the background: follow it with `events`, wait for it with `wait`.
   */
  async start(
    request: IStartRunRequest,
    options: RunService.IStartOptions = {}
  ): Promise<IRunDetails> {
    const backend = this._backend(request.target);
    const cluster = request.target !== 'local';
    const { notebook, plan } = await analyzeFile(request.notebook, {
      noInfer: request.local?.noInfer
    });
    Private.refuseErrors(
      request.notebook,
      plan,
      cluster ? 'fix them before submitting' : 'nothing was run'
    );
    const parameters = parameterValues(plan, request.parameters ?? {});
    return this._launch(backend, options, hooks =>
      backend.start(
        { request: { ...request, parameters }, plan, metadata: notebook.metadata },
        hooks,
        { follow: options.follow }
      )
    );
  }

  /**
   * Get ready to run a notebook soon, running nothing: for a local run, its steps' interpreter
   * is started with its imports loaded. Resolves once ready; a notebook that cannot run yet
   * (errors, no steps, a cluster target) is simply not ready.
   */
  async prepare(request: IStartRunRequest): Promise<IPrepareRunResponse> {
    const backend = this._backend(request.target);
    const { notebook, plan } = await analyzeFile(request.notebook, {
      noInfer: request.local?.noInfer
    });
    if (!backend.prepare || !isCompilable(plan) || plan.steps.length === 0) {
      return { ready: false, preloaded: [] };
    }
    return Private.call(() =>
      (backend.prepare as NonNullable<IRunBackend['prepare']>)({
        request,
        plan,
        metadata: notebook.metadata
      })
    );
  }

  /** End what the backends keep running between runs (warm interpreters). */
  async close(): Promise<void> {
    await Promise.all([...this._backends.values()].map(b => b.close?.()));
  }

  /** Re-run the failed, skipped and cancelled steps of a finished local run, in place. */
  async resume(
    id: string,
    request: IResumeRunRequest = {},
    options: RunService.IStartOptions = {}
  ): Promise<IRunDetails> {
    const run = await this._locate(id);
    const backend = this._backend(run.record.backend);
    if (!backend.resume) {
      throw new ServiceError(`run ${run.record.id} is not a local run`, true);
    }
    const notebook = Private.notebookOf(run);
    let plan: IPlan | null = null;
    let metadata: Record<string, unknown> = {};
    try {
      const analysed = await analyzeFile(notebook, { noInfer: request.local?.noInfer });
      plan = analysed.plan;
      metadata = analysed.notebook.metadata;
    } catch (error) {
      if (!(error instanceof ServiceError)) {
        throw error;
      }
      // the notebook is gone: resume what was planned
    }
    if (plan) {
      Private.refuseErrors(notebook, plan, 'nothing was run');
    }
    const resume = backend.resume.bind(backend);
    return this._launch(backend, options, hooks => resume(run, request, { plan, metadata }, hooks));
  }

  /** The final record of a run (waits for it to end). */
  async wait(id: string): Promise<IRunRecord> {
    const run = await this._locate(id);
    const live = this._live.get(run.record.id);
    if (live) {
      return Private.call(() => live);
    }
    for await (const envelope of this.events(run.record.id)) {
      void envelope;
    }
    return (await this.get(run.record.id)).record;
  }

  /** The runs under the root (or every indexed one), oldest first, each settled. */
  async list(
    filter: IRunFilter = {},
    options: RunService.IListOptions = {}
  ): Promise<IRunSummary[]> {
    const root = path.resolve(
      options.root ?? (filter.notebook ? path.dirname(filter.notebook) : this._root)
    );
    const byDir = new Map<string, IRunEntry>();
    for (const entry of await findRuns(root)) {
      byDir.set(entry.dir, entry);
    }
    for (const entry of await this._index.all()) {
      const inRoot = entry.dir.startsWith(root + path.sep);
      if ((options.all || inRoot) && !byDir.has(entry.dir)) {
        try {
          byDir.set(entry.dir, { dir: entry.dir, record: await readRunRecord(entry.dir) });
        } catch {
          // its folder was deleted: no longer listed
        }
      }
    }
    const out: IRunSummary[] = [];
    for (const entry of byDir.values()) {
      const record = await this._settle(entry);
      if (filter.backend && record.backend !== filter.backend) {
        continue;
      }
      if (filter.notebook && Private.notebookOf(entry) !== path.resolve(filter.notebook)) {
        continue;
      }
      out.push(Private.summary(record, entry.dir));
    }
    // Oldest first: by creation time (milliseconds), then id. Ids alone order runs of one
    // second by their random suffix.
    const key = (r: IRunSummary): string => `${r.createdAt} ${r.id}`;
    return out.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  }

  /** How many runs the index knows of in all. */
  async indexed(): Promise<number> {
    return (await this._index.all()).length;
  }

  /** A run by id, unique id prefix or folder, settled. */
  async get(id: string): Promise<IRunDetails> {
    const run = await this._locate(id);
    return Private.details(run);
  }

  /**
   * The run's events after `after` (replayed from its folder), then live ones until the run
   * finishes or `signal` aborts. Works for runs of this process and of any other.
   */
  async *events(
    id: string,
    options: RunService.IEventsOptions = {}
  ): AsyncGenerator<IRunEventEnvelope> {
    const run = await this._locate(id);
    const runId = run.record.id;
    if (!isFinished(run.record.status) && !this._live.has(runId)) {
      this._followElsewhere(run);
    }
    yield* followEvents(runPaths(run.dir).events, {
      after: options.after,
      signal: options.signal,
      live: () => this._live.has(runId),
      record: async () => {
        const failure = this._failures.get(runId);
        if (failure) {
          throw failure;
        }
        return this._settle({ dir: run.dir, record: await readRunRecord(run.dir) });
      }
    });
  }

  /** A run's step logs, as stored (and as they grow, with `follow`). */
  async *logs(id: string, options: RunService.ILogsOptions = {}): AsyncGenerator<ILogChunk> {
    let run: IRunLocation;
    try {
      run = await this._locate(id);
    } catch (error) {
      const argo = this._backends.get('argo');
      if (options.cluster && error instanceof ServiceError && error.notFound && argo) {
        yield* Private.guard(
          (argo as ArgoBackend).podLogs(id, { ...options.cluster, step: options.step })
        );
        return;
      }
      throw error;
    }
    const backend = this._backend(run.record.backend);
    yield* Private.guard(
      backend.logs(run, {
        ...options,
        record: async () => this._settle({ dir: run.dir, record: await readRunRecord(run.dir) })
      })
    );
  }

  /** Stop a run (local: every step process; cluster: asks the cluster). */
  async cancel(
    id: string,
    options: RunService.ICancelOptions = {}
  ): Promise<RunService.ICancelResult> {
    let run: IRunLocation;
    try {
      run = await this._locate(id);
    } catch (error) {
      const argo = this._backends.get('argo');
      if (options.cluster && error instanceof ServiceError && error.notFound && argo) {
        await Private.call(() => (argo as ArgoBackend).cancelByName(id, options.cluster ?? {}));
        return { record: null, how: 'requested' };
      }
      throw error;
    }
    if (isFinished(run.record.status)) {
      return { record: run.record, how: 'already-finished' };
    }
    const backend = this._backend(run.record.backend);
    return Private.call(() => backend.cancel(run, options, this._emitter(run.dir)));
  }

  /** The files a local run's steps wrote (in its workspace, not next to the notebook). */
  async outputs(id: string): Promise<IRunOutput[]> {
    const run = await this._locate(id);
    const workspace = Private.workspaceOf(run);
    return listOutputs(workspace, run.record, path.dirname(Private.notebookOf(run)));
  }

  /**
   * What a step's cells showed (display(), a cell's last value, figures) as MIME bundles, so
   * far if it still runs. An Argo step's come back in its log when it ends (the follower keeps
   * them in the run folder); a KFP run's stay with KFP.
   */
  async stepOutputs(id: string, step: string): Promise<IStepOutputs> {
    const run = await this._locate(id);
    const record = run.record.steps.find(s => s.name === step);
    if (!record) {
      throw new ServiceError(
        `run ${run.record.id} has no step ${JSON.stringify(step)}`,
        false,
        [],
        true
      );
    }
    if (run.record.backend === 'kfp') {
      throw new ServiceError(
        `run ${run.record.id} ran on Kubeflow Pipelines: what its steps showed is in the KFP UI`
      );
    }
    const shown = await Private.call(() => readRichOutputs(run.dir, record.id));
    return { step, ...shown };
  }

  /** Copy chosen outputs of a finished local run next to its notebook. */
  async copyOutputs(id: string, request: ICopyOutputsRequest = {}): Promise<ICopyOutputsResult> {
    const run = await this._locate(id);
    if (!isFinished(run.record.status)) {
      throw new ServiceError(
        `run ${run.record.id} is still ${run.record.status}; wait for it to end`
      );
    }
    const target = path.dirname(Private.notebookOf(run));
    const copied = await copyOutputs(
      Private.workspaceOf(run),
      run.record,
      target,
      request.paths ?? [],
      request.force === true
    );
    return { copied, target };
  }

  /** Chard's Workflows in a namespace (the cluster's view, with or without records here). */
  async listCluster(access: IClusterAccess): Promise<{ namespace: string; runs: IClusterRun[] }> {
    const argo = this._backend('argo') as ArgoBackend;
    return Private.call(() => argo.listCluster(access));
  }

  /**
   * Settle every indexed run recorded as running or pending whose runner is gone (call when a
   * long-lived service starts). Returns the runs it changed.
   */
  async recover(): Promise<IRunSummary[]> {
    const changed: IRunSummary[] = [];
    for (const entry of await this._index.all()) {
      let record: IRunRecord;
      try {
        record = await readRunRecord(entry.dir);
      } catch {
        continue;
      }
      if (isFinished(record.status)) {
        continue;
      }
      const settled = await this._settle({ dir: entry.dir, record });
      if (isFinished(settled.status)) {
        changed.push(Private.summary(settled, entry.dir));
      }
    }
    return changed;
  }

  private _backend(name: RunBackend): IRunBackend {
    const backend = this._backends.get(name);
    if (!backend) {
      throw new ServiceError(`no ${name} backend in this service`, true);
    }
    return backend;
  }

  /** Start a run through a backend: hooks that number and keep its events, the index entry. */
  private async _launch(
    backend: IRunBackend,
    options: RunService.IStartOptions,
    start: (hooks: IRunHooks) => Promise<IStartedRun>
  ): Promise<IRunDetails> {
    let log: EventLog | null = null;
    let since = 0;
    const held: RunEvent[] = [];
    const hooks: IRunHooks = {
      progress: message => options.onProgress?.(message),
      created: dir => {
        log = new EventLog(runPaths(dir).events);
        since = log.seq;
        held.splice(0).forEach(e => log?.append(e));
      },
      event: event => {
        if (log) {
          log.append(event);
        } else {
          held.push(event);
        }
      },
      locate: spec => this._locate(spec)
    };
    const started = await Private.call(() => start(hooks));
    const { record, dir } = started;
    await this._index.add({
      id: record.id,
      backend: backend.name,
      dir,
      notebook: path.resolve(record.notebook),
      createdAt: record.createdAt
    });
    this._live.set(record.id, started.done);
    started.done.then(
      final => {
        this._live.delete(record.id);
        this._onRunFinished?.({ dir, record: final });
      },
      (error: unknown) => {
        this._live.delete(record.id);
        this._failures.set(record.id, Private.serviceError(error));
      }
    );
    return { ...Private.details({ dir, record }), since };
  }

  /** Follow a cluster run nobody in this process follows (its events go to its folder). */
  private _followElsewhere(run: IRunLocation): void {
    const backend = this._backends.get(run.record.backend);
    if (!backend?.follow || run.record.backend === 'local') {
      return;
    }
    const log = new EventLog(runPaths(run.dir).events);
    const hooks: IRunHooks = {
      progress: () => undefined,
      created: () => undefined,
      event: event => log.append(event),
      locate: spec => this._locate(spec)
    };
    const done = backend.follow(run, hooks);
    this._live.set(run.record.id, done);
    done.then(
      () => this._live.delete(run.record.id),
      (error: unknown) => {
        this._live.delete(run.record.id);
        this._failures.set(run.record.id, Private.serviceError(error));
      }
    );
  }

  private _emitter(dir: string): (event: RunEvent) => void {
    const log = new EventLog(runPaths(dir).events);
    return event => log.append(event);
  }

  /** The record as it truly is (a run whose runner died is settled here). */
  private async _settle(run: IRunLocation): Promise<IRunRecord> {
    if (isFinished(run.record.status) || this._live.has(run.record.id)) {
      return run.record;
    }
    const backend = this._backends.get(run.record.backend);
    if (!backend?.settle) {
      return run.record;
    }
    return backend.settle(run, this._emitter(run.dir));
  }

  /**
   * Find a run: a run folder, else an id or unique id prefix in the user's index, else among
   * the runs recorded under the root (runs from before the index; they are indexed then).
   */
  private async _locate(spec: string): Promise<IRunLocation> {
    const asPath = path.resolve(this._root, spec);
    if (fs.existsSync(path.join(asPath, 'run.json'))) {
      return this._settled(asPath);
    }
    // A cluster run recorded next to the notebooks here (cluster run ids are not local ids).
    const here = path.join(this._root, CHARD_DIR, 'runs', spec);
    if (/^[a-z0-9][-a-z0-9.]*$/.test(spec) && fs.existsSync(path.join(here, 'run.json'))) {
      return this._settled(here);
    }
    const indexed = [];
    for (const entry of await this._index.lookup(spec)) {
      if (fs.existsSync(runPaths(entry.dir).runJson)) {
        indexed.push(entry);
      } else {
        await this._index.remove(entry.id); // its folder was deleted
      }
    }
    let matches: { id: string; dir: string }[] = indexed;
    if (matches.length === 0) {
      const runs = await findRuns(this._root);
      const exact = runs.filter(r => r.record.id === spec);
      matches = (exact.length > 0 ? exact : runs.filter(r => r.record.id.startsWith(spec))).map(
        r => ({ id: r.record.id, dir: r.dir })
      );
    }
    if (matches.length === 0) {
      throw new ServiceError(
        `no run ${JSON.stringify(spec)} (looked in the run index ${this._index.root} and under ${this._root}; see: chard runs --all)`,
        false,
        [],
        true
      );
    }
    if (matches.length > 1) {
      throw new ServiceError(
        `${JSON.stringify(spec)} matches ${matches.length} runs (${matches.map(m => m.id).join(', ')}); give more of the id`,
        true
      );
    }
    const location = await this._settled(matches[0].dir);
    if (indexed.length === 0) {
      await this._index.add({
        id: location.record.id,
        backend: location.record.backend,
        dir: location.dir,
        notebook: Private.notebookOf(location),
        createdAt: location.record.createdAt
      });
    }
    return location;
  }

  private async _settled(dir: string): Promise<IRunLocation> {
    let record: IRunRecord;
    try {
      record = await readRunRecord(dir);
    } catch (error) {
      throw Private.serviceError(error);
    }
    return { dir, record: await this._settle({ dir, record }) };
  }

  private readonly _backends = new Map<RunBackend, IRunBackend>();
  private readonly _onRunFinished: RunService.IOptions['onRunFinished'];
  private readonly _index: RunIndex;
  private readonly _root: string;
  /** Runs this process runs or follows: settles when each is over. */
  private readonly _live = new Map<string, Promise<IRunRecord>>();
  /** Runs this process stopped following because of an error. */
  private readonly _failures = new Map<string, ServiceError>();
}

namespace Private {
  /** Nothing starts from a notebook with errors. */
  export function refuseErrors(notebook: string, plan: IPlan, what: string): void {
    if (isCompilable(plan)) {
      return;
    }
    const errors: IDiagnostic[] = plan.diagnostics.filter(d => d.severity === 'error');
    const message =
      what === 'nothing was run'
        ? `${notebook}: the notebook has ${errors.length === 1 ? '1 error' : `${errors.length} errors`}; nothing was run`
        : `${notebook}: the notebook has errors; ${what}`;
    throw new ServiceError(message, false, what === 'nothing was run' ? errors : plan.diagnostics);
  }

  /** The notebook a run ran: in the folder holding the run's `.chard/runs/RUN`. */
  export function notebookOf(run: IRunLocation): string {
    const notebookDir = path.dirname(path.dirname(path.dirname(run.dir)));
    return path.join(notebookDir, path.basename(run.record.notebook));
  }

  export function workspaceOf(run: IRunLocation): string {
    if (run.record.backend !== 'local') {
      throw new ServiceError(
        `run ${run.record.id} ran on the cluster: its files are on the cluster's volumes`,
        true
      );
    }
    return runPaths(run.dir).workspace;
  }

  export function details(run: IRunLocation): IRunDetails {
    return {
      record: run.record,
      dir: run.dir,
      notebook: notebookOf(run),
      workspace: run.record.backend === 'local' ? runPaths(run.dir).workspace : null
    };
  }

  export function summary(record: IRunRecord, dir: string): IRunSummary {
    return {
      id: record.id,
      backend: record.backend,
      pipeline: record.pipeline,
      notebook: notebookOf({ dir, record }),
      status: record.status,
      createdAt: record.createdAt,
      startedAt: record.startedAt,
      finishedAt: record.finishedAt,
      message: record.message,
      dir
    };
  }

  /** A failure the user can act on, as a ServiceError; anything else is rethrown as it is. */
  export function serviceError(error: unknown): ServiceError {
    if (error instanceof ServiceError) {
      return error;
    }
    if (
      error instanceof RunError ||
      error instanceof SnapshotError ||
      error instanceof PythonError ||
      error instanceof RunRecordError ||
      error instanceof KubeApiError ||
      error instanceof ClusterConfigError ||
      error instanceof ClusterSnapshotError ||
      error instanceof WorkspaceError ||
      error instanceof KfpError ||
      error instanceof CompileError
    ) {
      return new ServiceError(error.message);
    }
    throw error;
  }

  export async function call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw serviceError(error);
    }
  }

  export async function* guard<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
    try {
      yield* source;
    } catch (error) {
      throw serviceError(error);
    }
  }
}
