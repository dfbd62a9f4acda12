/**
 * Cluster run records next to the notebook: `.chard/runs/<run-id>/run.json` and
 * `.chard/runs/<run-id>/logs/<step-id>.log`, every file written atomically (temp file + rename)
 * so a reader never sees half a file and logs survive the pods' garbage collection.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { IRunRecord } from '../../core/runs.js';

/** Names that may become a path component: DNS-1123-ish, nothing that climbs directories. */
const SAFE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function component(kind: string, name: string): string {
  if (!SAFE.test(name) || name.includes('..') || name.length > 253) {
    throw new Error(`invalid ${kind} name ${JSON.stringify(name)}`);
  }
  return name;
}

/** Write `data` to `file` atomically. */
export function writeFileAtomic(file: string, data: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    fs.writeFileSync(tmp, data, { mode: 0o644 });
    fs.renameSync(tmp, file);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    throw error;
  }
}

export class RunRecordStore {
  /** `root` is the directory holding `runs/` (usually `<notebook dir>/.chard`). */
  constructor(readonly root: string) {}

  /** The store for a notebook: `.chard` next to it. */
  static forNotebook(notebookPath: string): RunRecordStore {
    return new RunRecordStore(path.join(path.dirname(path.resolve(notebookPath)), '.chard'));
  }

  runDir(run: string): string {
    return path.join(this.root, 'runs', component('run', run));
  }

  logPath(run: string, step: string): string {
    return path.join(this.runDir(run), 'logs', `${component('step', step)}.log`);
  }

  writeRecord(record: IRunRecord): void {
    writeFileAtomic(
      path.join(this.runDir(record.id), 'run.json'),
      `${JSON.stringify(record, null, 2)}\n`
    );
  }

  readRecord(run: string): IRunRecord | null {
    const file = path.join(this.runDir(run), 'run.json');
    if (!fs.existsSync(file)) {
      return null;
    }
    const data: unknown = JSON.parse(fs.readFileSync(file, 'utf-8'));
    if (typeof data !== 'object' || data === null || (data as IRunRecord).version !== 1) {
      throw new Error(`${file} is not a Chard run record`);
    }
    return data as IRunRecord;
  }

  writeLog(run: string, step: string, text: string): string {
    const file = this.logPath(run, step);
    writeFileAtomic(file, text);
    return file;
  }

  readLog(run: string, step: string): string | null {
    const file = this.logPath(run, step);
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf-8') : null;
  }
}
