/**
 * Cluster run records next to the notebook, in the local runner's layout:
 * `.chard/runs/<run-id>/run.json`, `.chard/runs/<run-id>/logs/<step-id>.log` and what a step
 * showed in `.chard/runs/<run-id>/data/<step-id>/_outputs.json`, written with the
 * local runner's atomic writes so a reader never sees half a file and logs survive the pods'
 * garbage collection.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { IRunRecord } from '../../core/runs.js';
import { isRunRecord } from '../../core/runs.js';
import { chardDirFor, RunRecordError, runPaths } from './records.js';
import type { IStepOutputs } from '../../core/richoutputs.js';
import { errorReason, writeFileAtomic, writeJsonAtomic } from './files.js';
import { writeRichOutputs } from './richoutputs.js';

/** Names that may become a path component: DNS-1123-ish, nothing that climbs directories. */
const SAFE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function component(kind: string, name: string): string {
  if (!SAFE.test(name) || name.includes('..') || name.length > 253) {
    throw new Error(`invalid ${kind} name ${JSON.stringify(name)}`);
  }
  return name;
}

export class RunRecordStore {
  /** `root` is the directory holding `runs/` (usually `<notebook dir>/.chard`). */
  constructor(readonly root: string) {}

  /** The store for a notebook: `.chard` next to it. */
  static forNotebook(notebookPath: string): RunRecordStore {
    return new RunRecordStore(chardDirFor(notebookPath));
  }

  runDir(run: string): string {
    return path.join(this.root, 'runs', component('run', run));
  }

  logPath(run: string, step: string): string {
    return path.join(runPaths(this.runDir(run)).logs, `${component('step', step)}.log`);
  }

  async writeRecord(record: IRunRecord): Promise<void> {
    const dir = this.runDir(record.id);
    await fsp.mkdir(dir, { recursive: true });
    await writeJsonAtomic(runPaths(dir).runJson, record);
  }

  /** The run's record; null when there is none; a RunRecordError when it is unreadable. */
  readRecord(run: string): IRunRecord | null {
    const file = runPaths(this.runDir(run)).runJson;
    if (!fs.existsSync(file)) {
      return null;
    }
    let data: unknown;
    try {
      data = JSON.parse(fs.readFileSync(file, 'utf-8'));
    } catch (error) {
      throw new RunRecordError(`${file}: cannot be read (${errorReason(error)})`);
    }
    if (!isRunRecord(data)) {
      throw new RunRecordError(`${file}: not a Chard run record`);
    }
    return data;
  }

  async writeLog(run: string, step: string, text: string): Promise<string> {
    const file = this.logPath(run, step);
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, text);
    return file;
  }

  /** What a step showed (from its log), where a local run's step keeps it. */
  async writeOutputs(
    run: string,
    step: string,
    outputs: Pick<IStepOutputs, 'outputs' | 'truncated'>
  ): Promise<void> {
    await writeRichOutputs(this.runDir(run), component('step', step), outputs);
  }

  readLog(run: string, step: string): string | null {
    const file = this.logPath(run, step);
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf-8') : null;
  }
}
