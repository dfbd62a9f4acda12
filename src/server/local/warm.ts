/**
 * Warm interpreters: preloaded interpreters (zygote.ts) kept ready for a notebook's next run, so
 * a run started from JupyterLab forks its steps from an interpreter whose `imports` are already
 * loaded instead of starting one and waiting for numpy, pandas or scikit-learn to import.
 *
 * One per notebook folder and interpreter. It is started when the notebook is about to run
 * (`prepare`, asked by the frontend when it shows a notebook's pipeline, and by every run) and
 * serves the runs of that notebook while its key stays the same: the interpreter, the folder, the
 * text of the `imports` cells, the step runtime and the extra environment. A zygote runs no
 * notebook code and forks each step from the same state, so runs cannot see each other. It is
 * replaced when its key changes or a package it preloaded changed on disk (reinstalled), and
 * ended after an idle time with no run on it (default 10 minutes), when more than `max` notebooks
 * hold one (the least recently used goes), and with the backend (it dies with its parent).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { IPlan } from '../../core/index.js';
import { Zygote } from './zygote.js';

export namespace WarmInterpreters {
  export interface IOptions {
    /** End a warm interpreter no run used for this long (default 10 minutes). */
    idleMs?: number;
    /** Warm interpreters kept at most (default 3). */
    max?: number;
  }

  /** What a warm interpreter is for. */
  export interface IKey {
    python: string;
    /** The notebook's folder (a run's workspace is a snapshot of it). */
    notebookDir: string;
    plan: IPlan;
    /** The step runtime's source. */
    runtimeSource: string;
    /** The environment the steps get, less what differs between runs (CHARD_RUN_ID...). */
    env: NodeJS.ProcessEnv;
  }

  /** A warm interpreter lent to a run: give it back with `release` when the run is over. */
  export interface ILease {
    zygote: Zygote;
    release(): void;
  }
}

interface IEntry {
  slot: string;
  key: string;
  zygote: Zygote;
  dir: string;
  leases: number;
  lastUsed: number;
  idle: NodeJS.Timeout | null;
}

export class WarmInterpreters {
  constructor(options: WarmInterpreters.IOptions = {}) {
    this._idleMs = options.idleMs ?? 10 * 60 * 1000;
    this._max = options.max ?? 3;
  }

  /** Start a warm interpreter for `key` unless one is there; resolves when it is ready. */
  async prepare(key: WarmInterpreters.IKey): Promise<{ ready: boolean; preloaded: string[] }> {
    const lease = this.acquire(key);
    try {
      const ready = await lease.zygote.ready;
      return { ready, preloaded: [...lease.zygote.preloaded] };
    } finally {
      lease.release();
    }
  }

  /** The warm interpreter for `key` (started now when there is none fit for it). */
  acquire(key: WarmInterpreters.IKey): WarmInterpreters.ILease {
    const slot = `${key.python}\0${path.resolve(key.notebookDir)}`;
    const digest = Private.digest(key);
    let entry = this._entries.get(slot);
    if (entry && (entry.key !== digest || !entry.zygote.usable || entry.zygote.stale())) {
      this._drop(entry);
      entry = undefined;
    }
    if (!entry) {
      entry = this._start(slot, digest, key);
    }
    const held = entry;
    held.leases += 1;
    held.lastUsed = Date.now();
    if (held.idle) {
      clearTimeout(held.idle);
      held.idle = null;
    }
    let released = false;
    return {
      zygote: held.zygote,
      release: () => {
        if (released) {
          return;
        }
        released = true;
        held.leases -= 1;
        held.lastUsed = Date.now();
        if (this._entries.get(held.slot) !== held) {
          this._closeIfUnused(held);
        } else if (held.leases === 0) {
          held.idle = setTimeout(() => this._drop(held), this._idleMs);
          held.idle.unref();
        }
      }
    };
  }

  /** The warm interpreters' pids (for tests and the bench). */
  get pids(): number[] {
    return [...this._entries.values()].map(e => e.zygote.pid);
  }

  /** End every warm interpreter (runs still using one keep it until they release it). */
  async close(): Promise<void> {
    const entries = [...this._entries.values()];
    entries.forEach(e => this._drop(e));
    await Promise.all(entries.filter(e => e.leases === 0).map(e => this._closing.get(e)));
    if (this._base !== null && entries.every(e => e.leases === 0)) {
      fs.rmSync(this._base, { recursive: true, force: true });
      this._base = null;
    }
  }

  private _start(slot: string, digest: string, key: WarmInterpreters.IKey): IEntry {
    this._evict();
    const dir = fs.mkdtempSync(path.join(this._baseDir(), 'z-'));
    fs.writeFileSync(path.join(dir, 'chard_runtime.py'), key.runtimeSource, { mode: 0o600 });
    fs.writeFileSync(
      path.join(dir, 'imports.json'),
      JSON.stringify({ imports: key.plan.imports }),
      {
        mode: 0o600
      }
    );
    const zygote = Zygote.start({
      python: key.python,
      runDir: dir,
      planFile: path.join(dir, 'imports.json'),
      cwd: key.notebookDir,
      env: key.env
    });
    const entry: IEntry = {
      slot,
      key: digest,
      zygote,
      dir,
      leases: 0,
      lastUsed: Date.now(),
      idle: null
    };
    this._entries.set(slot, entry);
    return entry;
  }

  /**
   * The pool's private folder (runtime copies, FIFOs), removed when the process exits, however
   * it exits short of SIGKILL (the interpreters die with the process: zygote.ts).
   */
  private _baseDir(): string {
    if (this._base === null) {
      const base = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-warm-'));
      this._base = base;
      process.once('exit', () => fs.rmSync(base, { recursive: true, force: true }));
    }
    return this._base;
  }

  /** Room for one more: the least recently used unleased interpreters go. */
  private _evict(): void {
    const free = [...this._entries.values()]
      .filter(e => e.leases === 0)
      .sort((a, b) => a.lastUsed - b.lastUsed);
    while (this._entries.size >= this._max && free.length > 0) {
      this._drop(free.shift() as IEntry);
    }
  }

  private _drop(entry: IEntry): void {
    if (this._entries.get(entry.slot) === entry) {
      this._entries.delete(entry.slot);
    }
    if (entry.idle) {
      clearTimeout(entry.idle);
      entry.idle = null;
    }
    this._closeIfUnused(entry);
  }

  private _closeIfUnused(entry: IEntry): void {
    if (entry.leases > 0 || this._closing.has(entry)) {
      return;
    }
    this._closing.set(
      entry,
      entry.zygote
        .close()
        .catch(() => undefined)
        .finally(() => fs.rmSync(entry.dir, { recursive: true, force: true }))
    );
  }

  private readonly _idleMs: number;
  private readonly _max: number;
  private _base: string | null = null;
  private readonly _entries = new Map<string, IEntry>();
  private readonly _closing = new WeakMap<IEntry, Promise<void>>();
}

namespace Private {
  export function digest(key: WarmInterpreters.IKey): string {
    const env = Object.entries(key.env)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return createHash('sha256')
      .update(
        JSON.stringify([key.plan.imports.map(b => b.source), key.runtimeSource, env, key.python])
      )
      .digest('hex');
  }
}
