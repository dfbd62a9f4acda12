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
  IStepRecord,
  ParameterValue,
  RunEvent,
  ValueDigest
} from '../../core/index.js';
import { buildStepSpec, isCompilable, isRecord } from '../../core/index.js';
import { parseStepError, type IStepError } from '../../core/runs.js';
import { CompileError, resolveValueDigest } from '../../core/compile/options.js';
import { RUNTIME_SOURCE } from '../../core/generated/runtime.js';
import { launcherArgs } from './launcher.js';
import { startGroupProcess, processStartTime, StartError } from './processes.js';
import type { IGroupProcess, IProcessExit, IStartOptions } from './processes.js';
import {
  chardDirFor,
  JsonFileWriter,
  newRunId,
  pendingStep,
  readRunRecord,
  runPaths,
  runStatusOf,
  writeFileAtomic,
  writeJsonAtomic
} from './records.js';
import type { IProcessRef, IRunPids } from './records.js';
import { schedule } from './scheduler.js';
import type { NodeOutcome } from './scheduler.js';
import { isSharedObjectLink, snapshotWorkspace, verifyObjects } from './snapshot.js';
import type { Snapshot } from './snapshot.js';
import { Zygote, ZygoteError } from './zygote.js';

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
  const { plan } = options;
  if (!isCompilable(plan)) {
    const first = plan.diagnostics.find(d => d.severity === 'error');
    throw new RunError(`the notebook has errors: ${first?.message ?? 'see chard analyze'}`);
  }
  if (plan.steps.length === 0) {
    throw new RunError('the notebook has no steps to run');
  }
  const emit = (event: RunEvent): void => options.onEvent?.(event);
  const now = (): string => new Date().toISOString();
  const warnings: string[] = [];
  const stepByName = new Map(plan.steps.map(s => [s.name, s]));

  for (const name of Object.keys(options.parameters ?? {})) {
    if (!plan.parameters.some(p => p.name === name)) {
      throw new RunError(
        `unknown parameter ${JSON.stringify(name)} (the notebook's parameters: ${plan.parameters.map(p => p.name).join(', ') || 'none'})`
      );
    }
  }
  let valueDigest: ValueDigest;
  try {
    valueDigest = resolveValueDigest(plan, options.valueDigest);
  } catch (error) {
    throw error instanceof CompileError ? new RunError(error.message) : error;
  }

  // Which run directory, and what is reused from where.
  let dir: string;
  let record: IRunRecord;
  let sourceDir: string | null = null;
  let sourceRecord: IRunRecord | null = null;
  const forced = new Set<string>();
  if (options.resume) {
    dir = path.resolve(options.resume);
    sourceDir = dir;
    sourceRecord = await readRunRecord(dir);
    if (sourceRecord.status === 'running' || sourceRecord.status === 'pending') {
      throw new RunError(
        `run ${sourceRecord.id} is still ${sourceRecord.status}; cancel it first (chard cancel ${sourceRecord.id})`
      );
    }
    record = JSON.parse(JSON.stringify(sourceRecord)) as IRunRecord;
  } else {
    const id = newRunId();
    dir = path.join(chardDirFor(options.notebook), 'runs', id);
    record = {
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
    if (options.from) {
      if (!stepByName.has(options.from.step)) {
        throw new RunError(
          `--from ${JSON.stringify(options.from.step)}: no such step (steps: ${plan.steps.map(s => s.name).join(', ')})`
        );
      }
      sourceDir = path.resolve(options.from.run);
      sourceRecord = await readRunRecord(sourceDir);
      forced.add(options.from.step);
    }
  }
  const paths = runPaths(dir);

  // Parameters: the plan's defaults (a resumed run: the values it ran with, so re-run steps
  // agree with the reused ones), overridden by the caller.
  const parameters: Record<string, ParameterValue> = {};
  for (const p of plan.parameters) {
    const earlier = options.resume ? sourceRecord?.parameters[p.name] : undefined;
    parameters[p.name] =
      options.parameters?.[p.name] ??
      (earlier !== undefined && typeof earlier === typeof p.value ? earlier : p.value);
  }

  // Steps to run: forced ones, those that cannot be reused, and all their descendants.
  const earlierStep = (step: IStep): IStepRecord | undefined =>
    sourceRecord?.steps.find(s => s.id === step.id && s.name === step.name);
  const reusable = (step: IStep): boolean => {
    const old = earlierStep(step);
    if (!sourceDir || !old || old.status !== 'succeeded') {
      return false;
    }
    return step.outputs.every(name =>
      Private.storedValueIsWhole(path.join(runPaths(sourceDir as string).data, step.id, name))
    );
  };
  const toRun = new Set<string>();
  for (const step of plan.steps) {
    if (forced.has(step.name) || !reusable(step) || step.parents.some(p => toRun.has(p))) {
      toRun.add(step.name);
    }
  }
  const reused = plan.steps.filter(s => !toRun.has(s.name)).map(s => s.name);
  if (options.resume && toRun.size === 0) {
    throw new RunError(`run ${record.id} has nothing to resume: every step succeeded`);
  }

  record.steps = plan.steps.map(step => {
    const old = earlierStep(step);
    if (!toRun.has(step.name) && old) {
      return options.resume
        ? old
        : { ...old, message: `reused from run ${sourceRecord?.id ?? ''}` };
    }
    return pendingStep(step.name, step.id);
  });
  record.parameters = parameters;
  record.status = 'pending';
  record.finishedAt = null;
  record.message = null;
  const stepRecord = (name: string): IStepRecord =>
    record.steps.find(s => s.name === name) as IStepRecord;

  await fsp.mkdir(paths.logs, { recursive: true });
  await fsp.mkdir(paths.data, { recursive: true });
  await fsp.mkdir(paths.specs, { recursive: true });
  const writer = new JsonFileWriter<IRunRecord>(paths.runJson);
  await writeJsonAtomic(paths.runJson, record);
  await writeJsonAtomic(paths.planJson, plan);

  // The workspace snapshot (a resumed run keeps its own: it holds what its steps wrote).
  let snapshot: Snapshot.IResult | null = null;
  if (!options.resume) {
    emit({
      event: 'progress',
      run: record.id,
      time: now(),
      message: 'taking the workspace snapshot'
    });
    try {
      snapshot = await snapshotWorkspace({
        source: path.dirname(path.resolve(options.notebook)),
        target: paths.workspace,
        store: chardDirFor(options.notebook),
        exclude: options.exclude,
        maxBytes: options.maxSnapshotBytes,
        mode: options.snapshotMode
      });
    } catch (error) {
      await fsp.rm(dir, { recursive: true, force: true });
      throw error;
    }
    await writeFileAtomic(paths.runtime, options.runtimeSource ?? RUNTIME_SOURCE);
  } else if (options.runtimeSource !== undefined) {
    await writeFileAtomic(paths.runtime, options.runtimeSource);
  }

  // Values reused from another run are hard-linked (the runtime replaces files, never writes
  // into them), falling back to copies.
  if (options.from && sourceDir) {
    for (const name of reused) {
      const step = stepByName.get(name) as IStep;
      const from = path.join(runPaths(sourceDir).data, step.id);
      if (fs.existsSync(from)) {
        await Private.linkTree(from, path.join(paths.data, step.id));
      }
    }
  }
  for (const name of toRun) {
    const step = stepByName.get(name) as IStep;
    await fsp.rm(path.join(paths.data, step.id), { recursive: true, force: true });
  }

  // Step specs: cell code, names and parameter values travel only as JSON data.
  const specFiles = new Map<string, string>();
  for (const step of plan.steps.filter(s => toRun.has(s.name))) {
    const spec = buildStepSpec(plan, step, {
      dataDir: paths.data,
      workdir: paths.workspace,
      valueDigest
    });
    for (const name of Object.keys(spec.parameters)) {
      spec.parameters[name] = { ...spec.parameters[name], value: parameters[name] };
    }
    const file = path.join(paths.specs, `${step.id}.json`);
    await writeJsonAtomic(file, spec);
    specFiles.set(step.name, file);
  }

  // Process ids: with their kernel start times in pids.json (for `chard cancel`), as plain
  // numbers by step name in run.json (for people and tools).
  const pids: IRunPids = {
    runner: { pid: process.pid, start: processStartTime(process.pid) },
    steps: {}
  };
  const pidsWriter = new JsonFileWriter<IRunPids>(paths.pidsJson);
  const trackPid = (step: IStep, ref: IProcessRef | null): void => {
    if (ref) {
      pids.steps[step.id] = ref;
    } else {
      delete pids.steps[step.id];
    }
    pidsWriter.update(pids);
    record.pids = {
      runner: pids.runner.pid,
      steps: Object.fromEntries(
        plan.steps.filter(s => pids.steps[s.id]).map(s => [s.name, pids.steps[s.id].pid])
      )
    };
  };
  pidsWriter.update(pids);
  record.pids = { runner: process.pid, steps: {} };

  record.status = 'running';
  record.startedAt = now();
  writer.update(record);
  emit({
    event: 'run-started',
    run: record.id,
    time: record.startedAt,
    pipeline: plan.pipeline.name,
    steps: plan.steps.map(s => s.name)
  });

  const graceMs = options.graceMs ?? 5000;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...options.env,
    PYTHONUNBUFFERED: '1',
    CHARD_RUN_ID: record.id,
    CHARD_BACKEND: 'local'
  };

  // The preloaded interpreter the steps are forked from (when it can serve them).
  const zygote =
    options.preload === false
      ? null
      : Zygote.start({
          python: options.python,
          runDir: paths.root,
          planFile: paths.planJson,
          cwd: paths.workspace,
          env
        });
  const forked: string[] = [];
  let zygoteWarned = false;
  const startStep = async (name: string, onLine: IStartOptions['onLine'], logFile: string) => {
    const args = launcherArgs(paths.root, specFiles.get(name) as string);
    const stepEnv = { ...env, CHARD_STEP: name };
    if (zygote && (await zygote.ready)) {
      try {
        const child = await zygote.fork({
          args: args.slice(-2),
          cwd: paths.workspace,
          env: stepEnv,
          onLine,
          logFile
        });
        forked.push(name);
        return child;
      } catch (error) {
        if (!(error instanceof ZygoteError)) {
          throw error;
        }
      }
    }
    if (zygote && zygote.failure !== null && !zygoteWarned) {
      zygoteWarned = true;
      warnings.push(`steps started without preloading: ${zygote.failure}`);
    }
    return startGroupProcess({
      command: options.python,
      args,
      cwd: paths.workspace,
      env: stepEnv,
      logFile,
      onLine
    });
  };

  const runStep = async (name: string): Promise<NodeOutcome> => {
    const step = stepByName.get(name) as IStep;
    const rec = stepRecord(name);
    Object.assign(rec, pendingStep(step.name, step.id));
    rec.status = 'running';
    rec.startedAt = now();
    writer.update(record);
    emit({ event: 'step-started', run: record.id, time: rec.startedAt, step: name });
    const logFile = path.join(paths.logs, `${step.id}.log`);
    if (options.resume) {
      await fsp.appendFile(logFile, `--- chard: step re-run at ${rec.startedAt} ---\n`);
    }
    let child: IGroupProcess;
    try {
      child = await startStep(
        name,
        (stream, line) => {
          if (!line.startsWith('CHARD_ERROR ')) {
            emit({ event: 'log', run: record.id, time: now(), step: name, stream, line });
          }
        },
        logFile
      );
    } catch (error) {
      rec.status = 'failed';
      rec.finishedAt = now();
      rec.message = error instanceof StartError ? error.message : String(error);
      writer.update(record);
      Private.finished(emit, record.id, rec);
      return 'failed';
    }
    trackPid(step, { pid: child.pid, start: child.start });
    writer.update(record);
    let cancelled = false;
    const onAbort = (): void => {
      cancelled = true;
      void child.stop(graceMs);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) {
      onAbort();
    }
    const exit = await child.exited;
    options.signal?.removeEventListener('abort', onAbort);
    trackPid(step, null);

    rec.finishedAt = now();
    rec.exitCode = exit.code;
    let outcome: NodeOutcome;
    if (exit.code === 0 && !cancelled) {
      outcome = 'succeeded';
      rec.metrics = await Private.readMetrics(path.join(paths.data, step.id, '_metrics.json'));
      rec.outputs = step.outputs.filter(o =>
        fs.existsSync(path.join(paths.data, step.id, o, 'manifest.json'))
      );
      const missing = step.outputs.filter(o => !rec.outputs.includes(o));
      if (missing.length > 0) {
        outcome = 'failed';
        rec.message = `step ${JSON.stringify(name)} ended without saving ${missing.join(', ')}`;
      }
    } else if (cancelled) {
      outcome = 'cancelled';
      rec.message = 'cancelled';
    } else {
      outcome = 'failed';
      const error = parseStepError(exit.lastStderr);
      rec.cell = error?.cell ?? null;
      rec.line = error?.line ?? null;
      rec.message = Private.failureMessage(name, exit, error, paths.workspace);
    }
    rec.status = outcome;
    writer.update(record);
    for (const [metric, value] of Object.entries(rec.metrics)) {
      emit({ event: 'metric', run: record.id, time: now(), step: name, name: metric, value });
    }
    Private.finished(emit, record.id, rec);
    return outcome;
  };

  const nodes = plan.steps.map(s => ({ name: s.name, parents: s.parents }));
  try {
    await schedule({
      nodes,
      parallel: options.parallel ?? os.availableParallelism(),
      done: new Set(reused),
      run: runStep,
      signal: options.signal,
      onSkipped: (name, cause) => {
        const rec = stepRecord(name);
        Object.assign(rec, pendingStep(rec.name, rec.id));
        rec.status = 'skipped';
        rec.message = cause ? `skipped: step ${JSON.stringify(cause)} did not succeed` : 'skipped';
        Private.finished(emit, record.id, rec);
      },
      onCancelled: name => {
        const rec = stepRecord(name);
        Object.assign(rec, pendingStep(rec.name, rec.id));
        rec.status = 'cancelled';
        rec.message = 'cancelled before it started';
        Private.finished(emit, record.id, rec);
      }
    });
  } finally {
    await zygote?.close();
  }

  record.status = options.signal?.aborted ? 'cancelled' : runStatusOf(record.steps);
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
    const evicted = await verifyObjects(chardDirFor(options.notebook), snapshot.linkedObjects);
    if (evicted.length > 0) {
      warnings.push(
        `${evicted.length} shared snapshot file(s) were written into in place during the run; ` +
          'they were dropped from the snapshot store (later runs re-read them from the notebook directory)'
      );
    }
  }
  writer.update(record);
  await writer.flush();
  await pidsWriter.flush();
  emit({
    event: 'run-finished',
    run: record.id,
    time: record.finishedAt,
    status: record.status,
    message: record.message
  });
  return { dir, record, snapshot, reused, warnings, forked };
}

namespace Private {
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

  export function finished(emit: (e: RunEvent) => void, run: string, rec: IStepRecord): void {
    emit({
      event: 'step-finished',
      run,
      time: rec.finishedAt ?? new Date().toISOString(),
      step: rec.name,
      status: rec.status,
      exitCode: rec.exitCode,
      message: rec.message,
      cell: rec.cell,
      line: rec.line
    });
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
          ? ` in cell ${error.cell}${error.line !== null ? `, line ${error.line}` : ''}`
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
