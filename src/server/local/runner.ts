/**
 * The local runner: runs a plan on this machine, each step a separate process of the notebook's
 * Python running the Chard step runtime, against a snapshot of the notebook's directory, with the
 * run recorded in `.chard/runs/<run-id>/` (see records.ts).
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

import type {
  IPlan,
  IRunRecord,
  IStep,
  IStepError,
  IStepRecord,
  ParameterValue,
  RunEvent,
  ValueDigest
} from '../../core/index.js';
import {
  buildStepSpec,
  isCompilable,
  isRecord,
  parseStepError,
  runFinishedEvent,
  runStartedEvent,
  stepFinishedEvent
} from '../../core/index.js';
import { CompileError, resolveValueDigest } from '../../core/compile/options.js';
import { RICH_OUTPUTS_FILE } from '../../core/richoutputs.js';
import { RUNTIME_SOURCE } from '../../core/generated/runtime.js';
import { launcherArgs } from './launcher.js';
import { startGroupProcess, processStartTime, StartError } from './processes.js';
import type { IGroupProcess, IProcessExit, IStartOptions } from './processes.js';
import {
  chardDirFor,
  newRunId,
  pendingStep,
  readRunRecord,
  runPaths,
  runStatusOf
} from '../common/records.js';
import { JsonFileWriter, writeFileAtomic, writeJsonAtomic } from '../common/files.js';
import type { IProcessRef, IRunPaths, IRunPids } from '../common/records.js';
import { schedule } from './scheduler.js';
import type { NodeOutcome } from './scheduler.js';
import { isSharedObjectLink, snapshotWorkspace, verifyObjects } from './snapshot.js';
import type { Snapshot } from './snapshot.js';
import { Zygote, ZygoteError } from './zygote.js';
import type { WarmInterpreters } from './warm.js';

export namespace LocalRun {
  export interface IOptions {
    plan: IPlan;
    /** The notebook path as the user gave it (recorded; its directory is the workspace). */
    notebook: string;
    /** The Python interpreter for the steps. */
    python: string;
    /** Steps running at once; default: the number of cores. */
    parallel?: number;
    /** Parameter values overriding the plan's defaults, or a resumed run's values (typed). */
    parameters?: Record<string, ParameterValue>;
    /** Snapshot options. */
    exclude?: readonly string[];
    maxSnapshotBytes?: number;
    snapshotMode?: 'auto' | 'copy';
    /** Grace period between SIGTERM and SIGKILL when stopping steps (default 5000 ms). */
    graceMs?: number;
    /** Abort to cancel the run. */
    signal?: AbortSignal;
    onEvent?: (event: RunEvent) => void;
    /** Re-run the failed, skipped and cancelled steps of this run (its directory), in place. */
    resume?: string;
    /** Re-run `step` and its descendants in a new run, reusing `run`'s values for the rest. */
    from?: { step: string; run: string };
    /** The step runtime's source (default: the embedded runtime). */
    runtimeSource?: string;
    /**
     * How the steps' saved values are verified; default: the notebook's `chard.valueDigest`,
     * else "crc32" (consumers verify either scheme, so a resumed run may mix them).
     */
    valueDigest?: ValueDigest;
    /** Extra environment for the steps. */
    env?: NodeJS.ProcessEnv;
    /**
     * Start steps as forks of one preloaded interpreter (zygote.ts), falling back to a fresh
     * process per step when it is unavailable (default true).
     */
    preload?: boolean;
    /**
     * Warm interpreters kept between runs (warm.ts): the run takes its notebook's, started
     * earlier, instead of starting one. Without it, the run starts its own and ends it.
     */
    interpreters?: WarmInterpreters;
  }

  /** A run checked and recorded as pending, ready to execute. */
  export interface IPrepared {
    options: IOptions;
    dir: string;
    record: IRunRecord;
    /** The run whose values are reused (the resumed run itself, or --from's), if any. */
    sourceDir: string | null;
    toRun: Set<string>;
    reused: string[];
    parameters: Record<string, ParameterValue>;
    valueDigest: ValueDigest;
  }

  export interface IResult {
    dir: string;
    record: IRunRecord;
    snapshot: Snapshot.IResult | null;
    /** Steps whose values were reused instead of running them. */
    reused: string[];
    /** Warnings for the user (one line each). */
    warnings: string[];
    /** Steps started from the preloaded interpreter (the others started a fresh process). */
    forked: string[];
  }
}

/** A run that cannot start; one-line message. */
export class RunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunError';
  }
}

/** Run a plan locally. Resolves when the run is over (succeeded, failed or cancelled). */
export async function runLocal(options: LocalRun.IOptions): Promise<LocalRun.IResult> {
  return executeLocalRun(await prepareLocalRun(options));
}

/**
 * The first half of a run: check what was asked, choose the run's folder (a new one, or the
 * resumed run's) and record the run as pending there. Throws a RunError, and writes nothing,
 * when the run cannot start.
 */
export async function prepareLocalRun(options: LocalRun.IOptions): Promise<LocalRun.IPrepared> {
  const { plan } = options;
  Private.checkRunnable(plan, options.parameters);
  const valueDigest = Private.valueDigestOf(plan, options.valueDigest);
  const source = await Private.openRun(options);
  const parameters = Private.parameterValues(plan, options, source.record);
  const toRun = Private.stepsToRun(plan, source);
  const reused = plan.steps.filter(s => !toRun.has(s.name)).map(s => s.name);
  if (options.resume && toRun.size === 0) {
    throw new RunError(`run ${source.record.id} has nothing to resume: every step succeeded`);
  }
  const record = Private.pendingRecord(plan, options, source, toRun, parameters);
  const paths = runPaths(source.dir);
  await fsp.mkdir(paths.logs, { recursive: true });
  await fsp.mkdir(paths.data, { recursive: true });
  await fsp.mkdir(paths.specs, { recursive: true });
  // The runner's process first: a reader finding the run pending can tell it is alive.
  const pids: IRunPids = {
    runner: { pid: process.pid, start: processStartTime(process.pid) },
    steps: {}
  };
  await writeJsonAtomic(paths.pidsJson, pids);
  record.pids = { runner: process.pid, steps: {} };
  await writeJsonAtomic(paths.runJson, record);
  await writeJsonAtomic(paths.planJson, plan);
  return {
    options,
    dir: source.dir,
    record,
    sourceDir: source.sourceDir,
    toRun,
    reused,
    parameters,
    valueDigest
  };
}

/**
 * The second half: snapshot the workspace, stage the reused values, run the steps in
 * dependency order and record how each ended. Every outcome, a failed snapshot included, ends
 * in the record and a run-finished event.
 */
export async function executeLocalRun(prepared: LocalRun.IPrepared): Promise<LocalRun.IResult> {
  const run = new Private.Execution(prepared);
  return run.execute();
}

/**
 * What a run's warm interpreter must match (warm.ts): the run's interpreter, notebook folder,
 * imports, step runtime and the steps' environment less what is the run's own.
 */
export function warmKey(
  options: Pick<LocalRun.IOptions, 'python' | 'notebook' | 'plan' | 'env'>,
  runtimeSource: string = RUNTIME_SOURCE
): WarmInterpreters.IKey {
  return {
    python: options.python,
    notebookDir: path.dirname(path.resolve(options.notebook)),
    plan: options.plan,
    runtimeSource,
    env: Private.stepEnvironment(options.env)
  };
}

namespace Private {
  const now = (): string => new Date().toISOString();

  /** How often a running step's outputs file is looked at (the runtime rewrites it ≤ 1/s). */
  export const OUTPUTS_CHECK_MS = 500;

  /** The environment every step of a local run gets (the run adds CHARD_RUN_ID, CHARD_STEP). */
  export function stepEnvironment(extra: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
    return { ...process.env, ...extra, PYTHONUNBUFFERED: '1', CHARD_BACKEND: 'local' };
  }

  /** A plan with errors, no steps, or parameters it does not declare cannot run. */
  export function checkRunnable(
    plan: IPlan,
    parameters: Record<string, ParameterValue> | undefined
  ): void {
    if (!isCompilable(plan)) {
      const first = plan.diagnostics.find(d => d.severity === 'error');
      throw new RunError(`the notebook has errors: ${first?.message ?? 'see chard analyze'}`);
    }
    if (plan.steps.length === 0) {
      throw new RunError('the notebook has no steps to run');
    }
    for (const name of Object.keys(parameters ?? {})) {
      if (!plan.parameters.some(p => p.name === name)) {
        throw new RunError(
          `unknown parameter ${JSON.stringify(name)} (the notebook's parameters: ${plan.parameters.map(p => p.name).join(', ') || 'none'})`
        );
      }
    }
  }

  export function valueDigestOf(plan: IPlan, asked: ValueDigest | undefined): ValueDigest {
    try {
      return resolveValueDigest(plan, asked);
    } catch (error) {
      throw error instanceof CompileError ? new RunError(error.message) : error;
    }
  }

  /** Where the run goes and which earlier run (if any) its values come from. */
  export interface ISource {
    dir: string;
    record: IRunRecord;
    sourceDir: string | null;
    sourceRecord: IRunRecord | null;
    /** Steps re-run whatever their earlier state (--from's step). */
    forced: Set<string>;
  }

  export async function openRun(options: LocalRun.IOptions): Promise<ISource> {
    const { plan } = options;
    if (options.resume) {
      const dir = path.resolve(options.resume);
      const sourceRecord = await readRunRecord(dir);
      if (sourceRecord.status === 'running' || sourceRecord.status === 'pending') {
        throw new RunError(
          `run ${sourceRecord.id} is still ${sourceRecord.status}; cancel it first (chard cancel ${sourceRecord.id})`
        );
      }
      const record = JSON.parse(JSON.stringify(sourceRecord)) as IRunRecord;
      return { dir, record, sourceDir: dir, sourceRecord, forced: new Set() };
    }
    const id = newRunId();
    const record: IRunRecord = {
      version: 1,
      id,
      backend: 'local',
      pipeline: plan.pipeline.name,
      notebook: options.notebook,
      status: 'pending',
      createdAt: now(),
      startedAt: null,
      finishedAt: null,
      parameters: {},
      steps: [],
      message: null
    };
    const dir = path.join(chardDirFor(options.notebook), 'runs', id);
    if (!options.from) {
      return { dir, record, sourceDir: null, sourceRecord: null, forced: new Set() };
    }
    if (!plan.steps.some(s => s.name === options.from?.step)) {
      throw new RunError(
        `--from ${JSON.stringify(options.from.step)}: no such step (steps: ${plan.steps.map(s => s.name).join(', ')})`
      );
    }
    const sourceDir = path.resolve(options.from.run);
    return {
      dir,
      record,
      sourceDir,
      sourceRecord: await readRunRecord(sourceDir),
      forced: new Set([options.from.step])
    };
  }

  /**
   * The plan's defaults (a resumed run: the values it ran with, so re-run steps agree with the
   * reused ones), overridden by the caller.
   */
  export function parameterValues(
    plan: IPlan,
    options: LocalRun.IOptions,
    earlier: IRunRecord
  ): Record<string, ParameterValue> {
    const parameters: Record<string, ParameterValue> = {};
    for (const p of plan.parameters) {
      const old = options.resume ? earlier.parameters[p.name] : undefined;
      parameters[p.name] =
        options.parameters?.[p.name] ??
        (old !== undefined && typeof old === typeof p.value ? old : p.value);
    }
    return parameters;
  }

  function earlierStep(source: ISource, step: IStep): IStepRecord | undefined {
    return source.sourceRecord?.steps.find(s => s.id === step.id && s.name === step.name);
  }

  /** Forced steps, those whose earlier values cannot be reused, and all their descendants. */
  export function stepsToRun(plan: IPlan, source: ISource): Set<string> {
    const reusable = (step: IStep): boolean => {
      const old = earlierStep(source, step);
      if (!source.sourceDir || !old || old.status !== 'succeeded') {
        return false;
      }
      const data = runPaths(source.sourceDir).data;
      return step.outputs.every(name => storedValueIsWhole(path.join(data, step.id, name)));
    };
    const toRun = new Set<string>();
    for (const step of plan.steps) {
      if (source.forced.has(step.name) || !reusable(step) || step.parents.some(p => toRun.has(p))) {
        toRun.add(step.name);
      }
    }
    return toRun;
  }

  /** The record as the run starts: reused steps as they were, the others pending. */
  export function pendingRecord(
    plan: IPlan,
    options: LocalRun.IOptions,
    source: ISource,
    toRun: Set<string>,
    parameters: Record<string, ParameterValue>
  ): IRunRecord {
    const record = source.record;
    record.steps = plan.steps.map(step => {
      const old = earlierStep(source, step);
      if (!toRun.has(step.name) && old) {
        return options.resume
          ? old
          : { ...old, message: `reused from run ${source.sourceRecord?.id ?? ''}` };
      }
      return pendingStep(step.name, step.id);
    });
    record.parameters = parameters;
    record.status = 'pending';
    record.finishedAt = null;
    record.message = null;
    return record;
  }

  /**
   * Process ids: with their kernel start times in pids.json (for `chard cancel` and recovery),
   * as plain numbers by step name in run.json (for people and tools).
   */
  export class PidTracker {
    constructor(
      private readonly _plan: IPlan,
      private readonly _record: IRunRecord,
      file: string
    ) {
      this._writer = new JsonFileWriter<IRunPids>(file);
      this._writer.update(this._pids);
      _record.pids = { runner: process.pid, steps: {} };
    }

    track(step: IStep, ref: IProcessRef | null): void {
      if (ref) {
        this._pids.steps[step.id] = ref;
      } else {
        delete this._pids.steps[step.id];
      }
      this._writer.update(this._pids);
      this._record.pids = {
        runner: this._pids.runner.pid,
        steps: Object.fromEntries(
          this._plan.steps
            .filter(s => this._pids.steps[s.id])
            .map(s => [s.name, this._pids.steps[s.id].pid])
        )
      };
    }

    flush(): Promise<void> {
      return this._writer.flush();
    }

    private readonly _pids: IRunPids = {
      runner: { pid: process.pid, start: processStartTime(process.pid) },
      steps: {}
    };
    private readonly _writer: JsonFileWriter<IRunPids>;
  }

  /** One run being executed: its phases, in order, in `execute`. */
  export class Execution {
    constructor(private readonly _prepared: LocalRun.IPrepared) {
      const { options, dir, record } = _prepared;
      this._options = options;
      this._record = record;
      this._paths = runPaths(dir);
      this._stepByName = new Map(options.plan.steps.map(s => [s.name, s]));
      this._writer = new JsonFileWriter<IRunRecord>(this._paths.runJson);
      this._env = { ...stepEnvironment(options.env), CHARD_RUN_ID: record.id };
    }

    async execute(): Promise<LocalRun.IResult> {
      const snapshot = await this._snapshot();
      if (snapshot === 'failed') {
        return this._result(null);
      }
      await this._stageValues();
      await this._writeSpecs();
      this._pidTracker = new PidTracker(this._options.plan, this._record, this._paths.pidsJson);
      this._start();
      await this._schedule();
      await this._finish(snapshot);
      return this._result(snapshot);
    }

    private _emit(event: RunEvent): void {
      this._options.onEvent?.(event);
    }

    /** The workspace snapshot (a resumed run keeps its own: it holds what its steps wrote). */
    private async _snapshot(): Promise<Snapshot.IResult | null | 'failed'> {
      const { options } = this;
      if (options.resume) {
        if (options.runtimeSource !== undefined) {
          await writeFileAtomic(this._paths.runtime, options.runtimeSource);
        }
        return null;
      }
      this._emit({
        event: 'progress',
        run: this._record.id,
        time: now(),
        message: 'taking the workspace snapshot'
      });
      let snapshot: Snapshot.IResult;
      try {
        snapshot = await snapshotWorkspace({
          source: path.dirname(path.resolve(options.notebook)),
          target: this._paths.workspace,
          store: chardDirFor(options.notebook),
          exclude: options.exclude,
          maxBytes: options.maxSnapshotBytes,
          mode: options.snapshotMode
        });
      } catch (error) {
        // Nothing ran: the run is recorded as failed, with nothing of the snapshot left.
        await fsp.rm(this._paths.workspace, { recursive: true, force: true });
        const record = this._record;
        record.status = 'failed';
        record.finishedAt = now();
        record.message = error instanceof Error ? error.message : String(error);
        await writeJsonAtomic(this._paths.runJson, record);
        this._emit(runFinishedEvent(record));
        return 'failed';
      }
      await writeFileAtomic(this._paths.runtime, options.runtimeSource ?? RUNTIME_SOURCE);
      return snapshot;
    }

    /**
     * Values reused from another run are hard-linked (the runtime replaces files, never writes
     * into them), falling back to copies; the values of steps about to run again are removed.
     */
    private async _stageValues(): Promise<void> {
      const { options } = this;
      const { sourceDir, reused, toRun } = this._prepared;
      if (options.from && sourceDir) {
        for (const name of reused) {
          const step = this._step(name);
          const from = path.join(runPaths(sourceDir).data, step.id);
          if (fs.existsSync(from)) {
            await linkTree(from, path.join(this._paths.data, step.id));
          }
        }
      }
      for (const name of toRun) {
        await fsp.rm(path.join(this._paths.data, this._step(name).id), {
          recursive: true,
          force: true
        });
      }
    }

    /** Step specs: cell code, names and parameter values travel only as JSON data. */
    private async _writeSpecs(): Promise<void> {
      const { plan } = this.options;
      const { parameters, toRun, valueDigest } = this._prepared;
      for (const step of plan.steps.filter(s => toRun.has(s.name))) {
        const spec = buildStepSpec(plan, step, {
          dataDir: this._paths.data,
          workdir: this._paths.workspace,
          valueDigest
        });
        for (const name of Object.keys(spec.parameters)) {
          spec.parameters[name] = { ...spec.parameters[name], value: parameters[name] };
        }
        const file = path.join(this._paths.specs, `${step.id}.json`);
        await writeJsonAtomic(file, spec);
        this._specFiles.set(step.name, file);
      }
    }

    /** The run is running: recorded, announced, and the preloaded interpreter started. */
    private _start(): void {
      const record = this._record;
      record.status = 'running';
      record.startedAt = now();
      this._writer.update(record);
      this._emit(runStartedEvent(record, record.startedAt));
      this._zygote = this.options.preload === false ? null : this._preloaded();
      this._announcePreload(this._zygote);
    }

    /** The notebook's warm interpreter when there is a pool of them, else one of its own. */
    private _preloaded(): Zygote {
      const pool = this.options.interpreters;
      if (pool) {
        const runtime = fs.readFileSync(this._paths.runtime, 'utf8');
        this._lease = pool.acquire(warmKey(this.options, runtime));
        return this._lease.zygote;
      }
      return Zygote.start({
        python: this.options.python,
        runDir: this._paths.root,
        planFile: this._paths.planJson,
        cwd: this._paths.workspace,
        env: this._env
      });
    }

    /** Say when the steps' preloaded interpreter is ready, and what it loaded. */
    private _announcePreload(zygote: Zygote | null): void {
      const since = Date.now();
      void zygote?.ready.then(ok => {
        const waited = Date.now() - since;
        if (ok) {
          this._emit({
            event: 'progress',
            run: this._record.id,
            time: now(),
            message:
              (waited < 50
                ? 'steps start from a warm interpreter'
                : `preloaded interpreter ready in ${(waited / 1000).toFixed(1)} s`) +
              ` (${zygote.preloaded.join(', ') || 'no modules'})`
          });
        }
      });
    }

    /** Run the steps in dependency order, as many at once as allowed. */
    private async _schedule(): Promise<void> {
      const { plan } = this.options;
      try {
        await schedule({
          nodes: plan.steps.map(s => ({ name: s.name, parents: s.parents })),
          parallel: this.options.parallel ?? os.availableParallelism(),
          done: new Set(this._prepared.reused),
          run: name => this._runStep(name),
          signal: this.options.signal,
          onSkipped: (name, cause) =>
            this._settle(
              name,
              'skipped',
              cause ? `step ${JSON.stringify(cause)} did not succeed` : 'skipped'
            ),
          onCancelled: name => this._settle(name, 'cancelled', 'cancelled before it started')
        });
      } finally {
        if (this._lease) {
          this._lease.release();
        } else {
          await this._zygote?.close();
        }
      }
    }

    /** A step that never started: skipped or cancelled, with why. */
    private _settle(name: string, status: 'skipped' | 'cancelled', message: string): void {
      const rec = this._stepRecord(name);
      Object.assign(rec, pendingStep(rec.name, rec.id));
      rec.status = status;
      rec.message = message;
      this._emit(stepFinishedEvent(this._record.id, rec));
    }

    /** Start a step: forked from the preloaded interpreter, else a fresh process. */
    private async _launch(
      name: string,
      onLine: IStartOptions['onLine'],
      logFile: string
    ): Promise<IGroupProcess> {
      const args = launcherArgs(this._paths.root, this._specFiles.get(name) as string);
      const env = { ...this._env, CHARD_STEP: name };
      const zygote = this._zygote;
      if (zygote && (await zygote.ready)) {
        try {
          const child = await zygote.fork({
            args: args.slice(-2),
            runDir: this._paths.root,
            cwd: this._paths.workspace,
            env,
            onLine,
            logFile
          });
          this._forked.push(name);
          return child;
        } catch (error) {
          if (!(error instanceof ZygoteError)) {
            throw error;
          }
        }
      }
      if (zygote && zygote.failure !== null && !this._zygoteWarned) {
        this._zygoteWarned = true;
        this._warnings.push(`steps started without preloading: ${zygote.failure}`);
      }
      return startGroupProcess({
        command: this.options.python,
        args,
        cwd: this._paths.workspace,
        env,
        logFile,
        onLine
      });
    }

    private async _runStep(name: string): Promise<NodeOutcome> {
      const step = this._step(name);
      const rec = this._stepRecord(name);
      const run = this._record.id;
      Object.assign(rec, pendingStep(step.name, step.id));
      rec.status = 'running';
      rec.startedAt = now();
      this._writer.update(this._record);
      this._emit({ event: 'step-started', run, time: rec.startedAt, step: name });
      const logFile = path.join(this._paths.logs, `${step.id}.log`);
      if (this.options.resume) {
        await fsp.appendFile(logFile, `--- chard: step re-run at ${rec.startedAt} ---\n`);
      }
      // Taken before the step starts: whatever it writes from its first instant is news.
      const outputsBefore = await this._outputsTime(step.id);
      let child: IGroupProcess;
      try {
        child = await this._launch(
          name,
          (stream, line) => {
            if (!line.startsWith('CHARD_ERROR ')) {
              this._emit({ event: 'log', run, time: now(), step: name, stream, line });
            }
          },
          logFile
        );
      } catch (error) {
        rec.status = 'failed';
        rec.finishedAt = now();
        rec.message = error instanceof StartError ? error.message : String(error);
        this._writer.update(this._record);
        this._emit(stepFinishedEvent(run, rec));
        return 'failed';
      }
      const watch = this._watchOutputs(name, step.id, outputsBefore);
      let exit: IProcessExit & { cancelled: boolean };
      try {
        exit = await this._wait(step, child);
      } finally {
        watch.stop();
      }
      rec.finishedAt = now();
      rec.exitCode = exit.code;
      rec.status = await this._outcome(step, rec, exit);
      this._writer.update(this._record);
      for (const [metric, value] of Object.entries(rec.metrics)) {
        this._emit({ event: 'metric', run, time: now(), step: name, name: metric, value });
      }
      this._emit(stepFinishedEvent(run, rec));
      return rec.status as NodeOutcome;
    }

    /**
     * While a step runs, a `step-outputs` event each time its runtime rewrites what it showed
     * (at most once a second; checked every OUTPUTS_CHECK_MS), so the monitor shows figures as
     * they come. Nothing is emitted for a file left by an earlier attempt of the step.
     */
    private _watchOutputs(name: string, stepId: string, since: number): { stop(): void } {
      const mtime = () => this._outputsTime(stepId);
      let seen = since;
      let stopped = false;
      let busy = false;
      const timer = setInterval(() => {
        if (busy) {
          return;
        }
        busy = true;
        void mtime()
          .then(changed => {
            if (!stopped && changed !== seen) {
              seen = changed;
              this._emit({ event: 'step-outputs', run: this._record.id, time: now(), step: name });
            }
          })
          .finally(() => {
            busy = false;
          });
      }, Private.OUTPUTS_CHECK_MS);
      timer.unref();
      return {
        stop: () => {
          stopped = true;
          clearInterval(timer);
        }
      };
    }

    /** When the step's outputs file was last written (0: there is none). */
    private async _outputsTime(stepId: string): Promise<number> {
      const file = path.join(this._paths.data, stepId, RICH_OUTPUTS_FILE);
      return (await fsp.stat(file).catch(() => null))?.mtimeMs ?? 0;
    }

    /** Wait for a started step to end, stopping it if the run is cancelled meanwhile. */
    private async _wait(
      step: IStep,
      child: IGroupProcess
    ): Promise<IProcessExit & { cancelled: boolean }> {
      const signal = this.options.signal;
      this._pidTracker?.track(step, { pid: child.pid, start: child.start });
      this._writer.update(this._record);
      let cancelled = false;
      const onAbort = (): void => {
        cancelled = true;
        void child.stop(this.options.graceMs ?? 5000);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted) {
        onAbort();
      }
      const exit = await child.exited;
      signal?.removeEventListener('abort', onAbort);
      this._pidTracker?.track(step, null);
      return { ...exit, cancelled };
    }

    /** How a step that ran ended, with its metrics, outputs or error recorded. */
    private async _outcome(
      step: IStep,
      rec: IStepRecord,
      exit: IProcessExit & { cancelled: boolean }
    ): Promise<NodeOutcome> {
      const data = path.join(this._paths.data, step.id);
      if (exit.cancelled) {
        rec.message = 'cancelled';
        return 'cancelled';
      }
      if (exit.code !== 0) {
        const error = parseStepError(exit.lastStderr);
        rec.cell = error?.cell ?? null;
        rec.line = error?.line ?? null;
        rec.message = failureMessage(step.name, exit, error, this._paths.workspace);
        return 'failed';
      }
      rec.metrics = await readMetrics(path.join(data, '_metrics.json'));
      rec.outputs = step.outputs.filter(o => fs.existsSync(path.join(data, o, 'manifest.json')));
      const missing = step.outputs.filter(o => !rec.outputs.includes(o));
      if (missing.length > 0) {
        rec.message = `step ${JSON.stringify(step.name)} ended without saving ${missing.join(', ')}`;
        return 'failed';
      }
      return 'succeeded';
    }

    /** The run's status and message, the snapshot store checked, all on disk, announced. */
    private async _finish(snapshot: Snapshot.IResult | null): Promise<void> {
      const record = this._record;
      record.status = this.options.signal?.aborted ? 'cancelled' : runStatusOf(record.steps);
      record.finishedAt = now();
      const failed = record.steps.find(s => s.status === 'failed');
      record.message =
        record.status === 'cancelled'
          ? 'cancelled'
          : failed
            ? failed.message
            : record.status === 'succeeded'
              ? null
              : 'some steps did not run';
      if (snapshot && snapshot.linkedObjects.length > 0) {
        const store = chardDirFor(this.options.notebook);
        const evicted = await verifyObjects(store, snapshot.linkedObjects);
        if (evicted.length > 0) {
          this._warnings.push(
            `${evicted.length} shared snapshot file(s) were written into in place during the run; ` +
              'they were dropped from the snapshot store (later runs re-read them from the notebook directory)'
          );
        }
      }
      this._writer.update(record);
      await this._writer.flush();
      await this._pidTracker?.flush();
      for (const warning of this._warnings) {
        this._emit({
          event: 'progress',
          run: record.id,
          time: now(),
          message: `warning: ${warning}`
        });
      }
      this._emit(runFinishedEvent(record));
    }

    private _result(snapshot: Snapshot.IResult | null): LocalRun.IResult {
      return {
        dir: this._prepared.dir,
        record: this._record,
        snapshot,
        reused: this._prepared.reused,
        warnings: this._warnings,
        forked: this._forked
      };
    }

    private get options(): LocalRun.IOptions {
      return this._options;
    }

    private _step(name: string): IStep {
      return this._stepByName.get(name) as IStep;
    }

    private _stepRecord(name: string): IStepRecord {
      return this._record.steps.find(s => s.name === name) as IStepRecord;
    }

    private readonly _options: LocalRun.IOptions;
    private readonly _record: IRunRecord;
    private readonly _paths: IRunPaths;
    private readonly _stepByName: Map<string, IStep>;
    private readonly _writer: JsonFileWriter<IRunRecord>;
    private readonly _env: NodeJS.ProcessEnv;
    private readonly _specFiles = new Map<string, string>();
    private readonly _warnings: string[] = [];
    private readonly _forked: string[] = [];
    private _pidTracker: PidTracker | null = null;
    private _zygote: Zygote | null = null;
    private _lease: WarmInterpreters.ILease | null = null;
    private _zygoteWarned = false;
  }

  /**
   * A stored value can be reused by a resumed run when its manifest reads and its file has the
   * size the manifest records. Values are written without fsync (temp file, then rename), so a
   * crash can leave a short file behind: its producer then runs again instead of its consumer
   * failing on every resume. (Consumers still verify the checksums.)
   */
  export function storedValueIsWhole(dir: string): boolean {
    try {
      const manifest: unknown = JSON.parse(
        fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')
      );
      if (!isRecord(manifest)) {
        return false;
      }
      if (typeof manifest.file !== 'string') {
        return manifest.backend === 'module';
      }
      return fs.statSync(path.join(dir, path.basename(manifest.file))).size === manifest.size;
    } catch {
      return false;
    }
  }

  export async function readMetrics(
    file: string
  ): Promise<Record<string, number | string | boolean>> {
    try {
      const data: unknown = JSON.parse(await fsp.readFile(file, 'utf8'));
      const out: Record<string, number | string | boolean> = {};
      if (isRecord(data)) {
        const values = isRecord(data.metrics) ? data.metrics : data;
        for (const [key, value] of Object.entries(values)) {
          if (
            typeof value === 'number' ||
            typeof value === 'string' ||
            typeof value === 'boolean'
          ) {
            out[key] = value;
          }
        }
      }
      return out;
    } catch {
      return {};
    }
  }

  export function failureMessage(
    name: string,
    exit: IProcessExit,
    error: IStepError | null,
    workspace: string
  ): string {
    const step = `step ${JSON.stringify(name)} failed`;
    if (error) {
      const where =
        error.cell !== null
          ? ` in cell ${error.cell + 1}${error.line !== null ? `, line ${error.line}` : ''}`
          : '';
      let text = `${step}${where}: ${error.type}${error.message ? `: ${error.message}` : ''}`;
      const file = /'([^']+)'/.exec(error.message)?.[1];
      if (
        error.type === 'PermissionError' &&
        file &&
        isSharedObjectLink(path.resolve(workspace, file))
      ) {
        text +=
          ` (${file} is a read-only snapshot file shared between runs: write to a new file, ` +
          'or replace it, or run with --snapshot copy)';
      }
      return text.replace(/\s*\n\s*/g, ' ');
    }
    if (exit.reason) {
      return `${step}: ${exit.reason}`;
    }
    if (exit.signal) {
      return `${step}: killed by ${exit.signal}`;
    }
    const last = exit.lastStderr.filter(l => l.trim().length > 0).pop();
    return `${step} with exit code ${exit.code ?? '?'}${last ? `: ${last.trim()}` : ''}`;
  }

  /** Recreate `from` under `to` with hard links (copies across file systems). */
  export async function linkTree(from: string, to: string): Promise<void> {
    await fsp.mkdir(to, { recursive: true });
    for (const entry of await fsp.readdir(from, { withFileTypes: true })) {
      const src = path.join(from, entry.name);
      const dst = path.join(to, entry.name);
      if (entry.isDirectory()) {
        await linkTree(src, dst);
      } else if (entry.isFile()) {
        try {
          await fsp.link(src, dst);
        } catch {
          await fsp.copyFile(src, dst);
        }
      }
    }
  }
}
