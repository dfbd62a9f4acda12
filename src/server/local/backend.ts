/**
 * The local backend of the run service: runs on this machine (runner.ts), cancelled through
 * their runner process or directly, their logs read from the run folder, and runs whose
 * runner died settled as failed (or cancelled).
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';

import type { ILocalRunOptions, IResumeRunRequest } from '../../core/api.js';
import type { IPlan } from '../../core/plan.js';
import type { IRunRecord, RunEvent } from '../../core/runs.js';
import { diffEvents, isFinished } from '../../core/runs.js';
import { writeJsonAtomic } from '../common/files.js';
import {
  latestRunOf,
  readRunPids,
  readRunPlan,
  readRunRecord,
  runPaths
} from '../common/records.js';
import { ServiceError } from '../service/errors.js';
import type {
  ILogChunk,
  IRunBackend,
  IRunHooks,
  IRunLocation,
  IStartedRun,
  IStartInput,
  RunBackendApi
} from '../service/types.js';
import { cancelRun } from './cancel.js';
import { sleep } from '../common/retry.js';
import { groupMembers, isProcessAlive, stopGroup } from './processes.js';
import { checkImports, importedModules, resolvePython } from './python.js';
import { executeLocalRun, prepareLocalRun, warmKey } from './runner.js';
import { WarmInterpreters } from './warm.js';
import type { IPrepareRunResponse } from '../../core/httpapi.js';
import type { LocalRun } from './runner.js';
import { parseSize } from './snapshot.js';

/** The message a run gets when its runner is found gone before it finished. */
export const INTERRUPTED = 'interrupted: the runner process is gone (killed or crashed)';

export class LocalBackend implements IRunBackend {
  readonly name = 'local' as const;

  /**
   * With `warm` (the long-lived backend behind JupyterLab), runs fork their steps from warm
   * interpreters kept between runs (warm.ts); without (the CLI), each run preloads its own.
   */
  constructor(options: { warm?: WarmInterpreters.IOptions | false } = {}) {
    this._warm = options.warm ? new WarmInterpreters(options.warm) : null;
  }

  /** Warm the notebook's interpreter for its next run; resolves once it is ready. */
  async prepare(input: IStartInput): Promise<IPrepareRunResponse> {
    const local = input.request.local ?? {};
    if (!this._warm) {
      return { ready: false, preloaded: [] };
    }
    const python = await resolvePython(input.metadata, local.python);
    return this._warm.prepare(
      warmKey({ python: python.command, notebook: input.request.notebook, plan: input.plan })
    );
  }

  /** End the warm interpreters. */
  async close(): Promise<void> {
    await this._warm?.close();
  }

  async start(input: IStartInput, hooks: IRunHooks): Promise<IStartedRun> {
    const { request, plan } = input;
    const local = request.local ?? {};
    let from: LocalRun.IOptions['from'];
    if (local.from) {
      const source = local.from.run
        ? await hooks.locate(local.from.run)
        : await latestRunOf(request.notebook);
      if (!source) {
        throw new ServiceError(
          `--from ${local.from.step}: ${request.notebook} has no earlier run to reuse values from`
        );
      }
      from = { step: local.from.step, run: source.dir };
    }
    return this._launch(request.notebook, plan, input.metadata, local, hooks, {
      parameters: request.parameters ?? {},
      from
    });
  }

  async resume(
    run: IRunLocation,
    request: IResumeRunRequest,
    input: { plan: IPlan | null; metadata: Record<string, unknown> },
    hooks: IRunHooks
  ): Promise<IStartedRun> {
    const plan = input.plan ?? (await readRunPlan(run.dir));
    const notebook = Private.notebookOf(run);
    return this._launch(notebook, plan, input.metadata, request.local ?? {}, hooks, {
      parameters: {},
      resume: run.dir
    });
  }

  async cancel(
    run: IRunLocation,
    options: RunBackendApi.ICancelOptions,
    emit: (event: RunEvent) => void
  ): Promise<RunBackendApi.ICancelResult> {
    const graceMs = (options.graceSeconds ?? 5) * 1000;
    const live = this._live.get(run.record.id);
    if (live) {
      live.controller.abort();
      const record = await live.done;
      return { record, how: 'stopped' };
    }
    if (isFinished(run.record.status)) {
      return { record: run.record, how: 'already-finished' };
    }
    await fsp.writeFile(runPaths(run.dir).cancelling, new Date().toISOString());
    const before = await readRunRecord(run.dir);
    const result = await cancelRun(run.dir, graceMs);
    if (result.how === 'direct') {
      diffEvents(before, result.record, new Date().toISOString()).forEach(emit);
    }
    return {
      record: result.record,
      how: result.how === 'already-finished' ? 'already-finished' : 'stopped'
    };
  }

  async *logs(run: IRunLocation, options: RunBackendApi.ILogOptions): AsyncGenerator<ILogChunk> {
    const steps = options.step
      ? run.record.steps.filter(s => s.name === options.step || s.id === options.step)
      : run.record.steps;
    if (steps.length === 0) {
      throw new ServiceError(
        `run ${run.record.id} has no step ${JSON.stringify(options.step)} (steps: ${run.record.steps.map(s => s.name).join(', ')})`,
        true
      );
    }
    const reader = new Private.LogReader(runPaths(run.dir).logs);
    if (!options.follow) {
      yield* await reader.read(steps, true);
      return;
    }
    // The status is read before the logs: once the run is seen finished, one more read gets
    // everything (a step's log is complete before its status changes).
    for (;;) {
      const over = isFinished((await options.record()).status) || options.signal?.aborted === true;
      yield* await reader.read(steps, over);
      if (over) {
        return;
      }
      await sleep(Private.FOLLOW_INTERVAL_MS);
    }
  }

  async settle(run: IRunLocation, emit: (event: RunEvent) => void): Promise<IRunRecord> {
    const record = run.record;
    if (isFinished(record.status) || this._live.has(record.id)) {
      return record;
    }
    const pids = await readRunPids(run.dir);
    if (pids && isProcessAlive(pids.runner.pid, pids.runner.start)) {
      return record;
    }
    // Read again: the runner may have finished the run between the two reads.
    const latest = await readRunRecord(run.dir);
    if (isFinished(latest.status)) {
      return latest;
    }
    // Whatever its steps left running goes too.
    await Promise.all(
      Object.values(pids?.steps ?? {}).map(async ref => {
        if (isProcessAlive(ref.pid, ref.start) || groupMembers(ref.pid).length > 0) {
          await stopGroup(ref.pid, 1000);
        }
      })
    );
    const cancelled = fs.existsSync(runPaths(run.dir).cancelling);
    const status = cancelled ? 'cancelled' : 'failed';
    const time = new Date().toISOString();
    const after: IRunRecord = JSON.parse(JSON.stringify(latest)) as IRunRecord;
    const why = cancelled ? 'cancelled (the runner was gone)' : INTERRUPTED;
    for (const step of after.steps) {
      if (step.status === 'running') {
        step.status = status;
        step.finishedAt = time;
        step.message = why;
      } else if (step.status === 'pending') {
        step.status = cancelled ? 'cancelled' : 'skipped';
        step.message = why;
      }
    }
    after.status = status;
    after.finishedAt = time;
    after.message = `${why}${pids ? ` (pid ${pids.runner.pid})` : ''}`;
    if (after.pids) {
      after.pids.steps = {};
    }
    await writeJsonAtomic(runPaths(run.dir).runJson, after);
    diffEvents(latest, after, time).forEach(emit);
    return after;
  }

  private async _launch(
    notebook: string,
    plan: IPlan,
    metadata: Record<string, unknown>,
    local: ILocalRunOptions,
    hooks: IRunHooks,
    extra: Pick<LocalRun.IOptions, 'parameters' | 'from' | 'resume'>
  ): Promise<IStartedRun> {
    const settings = Private.snapshotSettings(plan, local);
    const python = await resolvePython(metadata, local.python);
    const problem = await checkImports(
      python,
      importedModules(plan, path.dirname(path.resolve(notebook)))
    );
    if (problem) {
      throw new ServiceError(problem);
    }
    hooks.progress(`running ${notebook} with ${python.command} (${python.source})`);
    const controller = new AbortController();
    const prepared = await prepareLocalRun({
      plan,
      notebook,
      python: python.command,
      parallel: local.parallel ?? os.availableParallelism(),
      ...extra,
      ...settings,
      graceMs: (local.graceSeconds ?? 5) * 1000,
      signal: controller.signal,
      ...(this._warm ? { interpreters: this._warm } : {}),
      onEvent: event => hooks.event(event),
      ...(local.valueDigest === undefined ? {} : { valueDigest: local.valueDigest })
    });
    hooks.created(prepared.dir, prepared.record);
    const id = prepared.record.id;
    const done = executeLocalRun(prepared)
      .then(result => result.record)
      .finally(() => this._live.delete(id));
    this._live.set(id, { controller, done });
    return { dir: prepared.dir, record: prepared.record, done };
  }

  private readonly _warm: WarmInterpreters | null;
  /** Runs this process is running. */
  private readonly _live = new Map<
    string,
    { controller: AbortController; done: Promise<IRunRecord> }
  >();
}

namespace Private {
  export const FOLLOW_INTERVAL_MS = 250;

  /** The notebook a run ran: in the folder holding the run's `.chard/runs/RUN`. */
  export function notebookOf(run: IRunLocation): string {
    const notebookDir = path.dirname(path.dirname(path.dirname(run.dir)));
    return path.join(notebookDir, path.basename(run.record.notebook));
  }

  /** Snapshot options: the notebook's settings, extended or overridden by the request. */
  export function snapshotSettings(
    plan: IPlan,
    local: ILocalRunOptions
  ): Pick<LocalRun.IOptions, 'exclude' | 'maxSnapshotBytes' | 'snapshotMode'> {
    const chard = plan.pipeline.chard;
    const exclude = [...(chard.snapshotExclude ?? []), ...(local.exclude ?? [])];
    const sizeText = local.maxSnapshot;
    const maxSnapshotBytes = sizeText === undefined ? chard.snapshotMaxSize : parseSize(sizeText);
    if (maxSnapshotBytes === null) {
      throw new ServiceError(
        `snapshot size limit ${JSON.stringify(sizeText)}: give a size like 2GiB or 500MB`,
        true
      );
    }
    return {
      exclude,
      maxSnapshotBytes,
      snapshotMode: local.snapshotMode === 'copy' ? 'copy' : 'auto'
    };
  }

  /** Reads step logs from where the last read stopped. */
  export class LogReader {
    constructor(private readonly _logs: string) {}

    async read(
      steps: readonly { name: string; id: string }[],
      last: boolean
    ): Promise<ILogChunk[]> {
      const out: ILogChunk[] = [];
      for (const step of steps) {
        let state = this._state.get(step.id);
        if (!state) {
          state = { offset: 0, decoder: new StringDecoder('utf8') };
          this._state.set(step.id, state);
        }
        const text = (await this._read(step.id, state)) + (last ? state.decoder.end() : '');
        out.push({ step: step.name, text, final: last });
      }
      return out;
    }

    private async _read(
      id: string,
      state: { offset: number; decoder: StringDecoder }
    ): Promise<string> {
      let handle: fsp.FileHandle;
      try {
        handle = await fsp.open(path.join(this._logs, `${id}.log`), 'r');
      } catch {
        return ''; // the step has not run (yet)
      }
      try {
        let text = '';
        const buffer = Buffer.alloc(64 * 1024);
        for (;;) {
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, state.offset);
          if (bytesRead === 0) {
            return text;
          }
          state.offset += bytesRead;
          text += state.decoder.write(buffer.subarray(0, bytesRead));
        }
      } finally {
        await handle.close();
      }
    }

    private readonly _state = new Map<string, { offset: number; decoder: StringDecoder }>();
  }
}
