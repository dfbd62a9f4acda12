/**
 * The user-level index of run folders, so a run is found by its id from any directory:
 * `$CHARD_STATE_DIR/runs/RUN.json` (default `${XDG_STATE_HOME:-~/.local/state}/chard`), one small
 * file per run, each written atomically (two runs starting at once never race on one file).
 */
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

import type { RunBackend } from '../../core/runs.js';
import { isRecord } from '../../core/notebook.js';
import { writeJsonAtomic } from './files.js';

export interface IRunIndexEntry {
  id: string;
  backend: RunBackend;
  /** The run's folder (`.chard/runs/RUN` next to the notebook). */
  dir: string;
  notebook: string;
  createdAt: string;
}

/** Where Chard keeps per-user state. */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CHARD_STATE_DIR) {
    return path.resolve(env.CHARD_STATE_DIR);
  }
  const base = env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'chard');
}

/** Run ids (local ids and Workflow / KFP run names) are safe file names; others are refused. */
const SAFE_ID = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export class RunIndex {
  constructor(readonly root: string = stateDir()) {}

  /** Record (or update) where a run's folder is. */
  async add(entry: IRunIndexEntry): Promise<void> {
    if (!SAFE_ID.test(entry.id) || entry.id.includes('..')) {
      return; // not a name Chard gives: never indexed
    }
    await fsp.mkdir(this._dir, { recursive: true });
    await writeJsonAtomic(path.join(this._dir, `${entry.id}.json`), entry);
  }

  async remove(id: string): Promise<void> {
    if (SAFE_ID.test(id)) {
      await fsp.rm(path.join(this._dir, `${id}.json`), { force: true });
    }
  }

  /** Every indexed run (unreadable entries are skipped), by id. */
  async all(): Promise<IRunIndexEntry[]> {
    let names: string[];
    try {
      names = await fsp.readdir(this._dir);
    } catch {
      return [];
    }
    const out: IRunIndexEntry[] = [];
    for (const name of names.filter(n => n.endsWith('.json')).sort()) {
      const entry = await this._read(path.join(this._dir, name));
      if (entry) {
        out.push(entry);
      }
    }
    return out;
  }

  /** The runs whose id is `spec`, else those whose id starts with it. */
  async lookup(spec: string): Promise<IRunIndexEntry[]> {
    if (SAFE_ID.test(spec)) {
      const exact = await this._read(path.join(this._dir, `${spec}.json`));
      if (exact) {
        return [exact];
      }
    }
    return (await this.all()).filter(e => e.id.startsWith(spec));
  }

  private get _dir(): string {
    return path.join(this.root, 'runs');
  }

  private async _read(file: string): Promise<IRunIndexEntry | null> {
    try {
      const value: unknown = JSON.parse(await fsp.readFile(file, 'utf8'));
      if (
        isRecord(value) &&
        typeof value.id === 'string' &&
        typeof value.dir === 'string' &&
        typeof value.notebook === 'string' &&
        typeof value.createdAt === 'string' &&
        (value.backend === 'local' || value.backend === 'argo' || value.backend === 'kfp')
      ) {
        return value as unknown as IRunIndexEntry;
      }
    } catch {
      // no entry, or one being replaced
    }
    return null;
  }
}
