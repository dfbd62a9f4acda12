/**
 * TensorBoard on this machine: one `tensorboard` process per set of log directories, on a random
 * port of 127.0.0.1, reached only through the Jupyter server extension's authenticated forwarder
 * (which asks `target(id)` for the port on every request). Panels hold references: the process
 * stops when the last panel on it is released, when no request reached it for `idleTimeoutMs`
 * (a browser closed without closing its panels), and with the backend (see launcher.ts).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { NOT_INSTALLED_EXIT, tensorBoardArgs } from './launcher.js';
import type { ILogDir } from './logdirs.js';
import { logDirSpec } from './logdirs.js';

export type TensorBoardErrorCode = 'tensorboard-not-installed' | 'tensorboard-failed';

/** A TensorBoard that could not be started, with a message for the user. */
export class TensorBoardError extends Error {
  constructor(
    readonly code: TensorBoardErrorCode,
    message: string
  ) {
    super(message);
    this.name = 'TensorBoardError';
  }
}

/** One running TensorBoard as the HTTP API reports it. */
export interface ITensorBoardHandle {
  /** Random id, part of the proxied path `/chard/tensorboard/<id>/`. */
  id: string;
  port: number;
  /** TensorBoard's process id (it leads its own process group). */
  pid: number;
  logdirs: ILogDir[];
  /** Panels holding it. */
  refs: number;
  /** True when this `open` started it (false: an existing one was reused). */
  started: boolean;
}

/** Start, reuse and stop TensorBoards (the backend holds one). */
export interface ILocalTensorBoards {
  /** A TensorBoard on `logdirs` (started, or reused when one runs on the same set): +1 panel. */
  open(logdirs: readonly ILogDir[]): Promise<ITensorBoardHandle>;
  /** A panel on `id` closed: -1 panel; the process stops with the last. */
  release(id: string): Promise<void>;
  /** The port of `id` for the forwarder (null when it is not running); counts as activity. */
  target(id: string): number | null;
  /** The running TensorBoards. */
  list(): ITensorBoardHandle[];
  /** Stop every TensorBoard (backend shutdown). */
  stopAll(): Promise<void>;
}

export namespace LocalTensorBoards {
  export interface IOptions {
    /** The Python that has `tensorboard`. */
    python: string;
    /** The proxied path below which TensorBoard is served: `<base_url>chard/tensorboard/`. */
    pathPrefix: string;
    /** Stop a TensorBoard no request reached for this long (default 15 min). */
    idleTimeoutMs?: number;
    /** Give up on a TensorBoard that does not report its address within this (default 90 s). */
    startTimeoutMs?: number;
    /** TensorBoard's `--reload_interval` in seconds (default 5). */
    reloadIntervalSeconds?: number;
    log?: (message: string) => void;
  }
}

export class LocalTensorBoards implements ILocalTensorBoards {
  constructor(options: LocalTensorBoards.IOptions) {
    this._options = options;
    this._idleMs = options.idleTimeoutMs ?? 15 * 60 * 1000;
    this._timer = setInterval(
      () => this._stopIdle(),
      Math.max(50, Math.min(this._idleMs / 4, 30000))
    );
    this._timer.unref();
  }

  async open(logdirs: readonly ILogDir[]): Promise<ITensorBoardHandle> {
    if (logdirs.length === 0) {
      throw new TensorBoardError('tensorboard-failed', 'no log directory to show');
    }
    const key = logDirSpec([...logdirs].sort((a, b) => a.name.localeCompare(b.name)));
    let instance = this._byKey.get(key);
    let started = false;
    if (!instance || instance.exited) {
      instance = this._start(key, logdirs);
      started = true;
    }
    instance.refs += 1;
    instance.lastUsed = Date.now();
    try {
      await instance.ready;
    } catch (error) {
      instance.refs -= 1;
      throw error;
    }
    // The idle clock starts when it serves (a slow start is not idleness).
    instance.lastUsed = Date.now();
    return Private.handle(instance, started);
  }

  /**
   * Start TensorBoard for these directories ahead of "Open TensorBoard" (a run that wrote event
   * files just finished), so the panel finds it serving. Nothing holds it: it stops after the
   * idle timeout if nobody opens it, and at most one started this way and never opened is kept
   * (the one before it stops). Resolves once it serves; never rejects (the panel reports errors).
   */
  async prestart(logdirs: readonly ILogDir[]): Promise<void> {
    if (logdirs.length === 0) {
      return;
    }
    const key = logDirSpec([...logdirs].sort((a, b) => a.name.localeCompare(b.name)));
    const existing = this._byKey.get(key);
    if (existing && !existing.exited) {
      return;
    }
    const earlier = this._prestarted;
    if (earlier && earlier.refs === 0 && this._byId.get(earlier.id) === earlier) {
      await this._stop(earlier, 'a newer run was prepared instead');
    }
    const instance = this._start(key, logdirs);
    this._prestarted = instance;
    await instance.ready.catch(() => undefined);
    instance.lastUsed = Date.now();
  }

  async release(id: string): Promise<void> {
    const instance = this._byId.get(id);
    if (!instance) {
      return;
    }
    instance.refs = Math.max(0, instance.refs - 1);
    if (instance.refs === 0) {
      await this._stop(instance, 'its last panel closed');
    }
  }

  target(id: string): number | null {
    const instance = this._byId.get(id);
    if (!instance || instance.exited || instance.port === null) {
      return null;
    }
    instance.lastUsed = Date.now();
    return instance.port;
  }

  list(): ITensorBoardHandle[] {
    return [...this._byId.values()]
      .filter(i => i.port !== null && !i.exited)
      .map(i => Private.handle(i, false));
  }

  async stopAll(): Promise<void> {
    clearInterval(this._timer);
    await Promise.all([...this._byId.values()].map(i => this._stop(i, 'the backend stops')));
  }

  private _start(key: string, logdirs: readonly ILogDir[]): Private.IInstance {
    const id = randomBytes(9).toString('base64url');
    const prefix = `${this._options.pathPrefix.replace(/\/+$/, '')}/${id}`;
    const args = [
      '--logdir_spec',
      key,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--path_prefix',
      prefix,
      // The Rust data server would be a grandchild outside the launcher's lifetime tie.
      '--load_fast',
      'false',
      '--reload_interval',
      String(this._options.reloadIntervalSeconds ?? 5)
    ];
    const child = spawn(this._options.python, tensorBoardArgs(args), {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, PYTHONUNBUFFERED: '1' }
    });
    const instance: Private.IInstance = {
      id,
      key,
      logdirs: [...logdirs],
      child,
      port: null,
      refs: 0,
      lastUsed: Date.now(),
      exited: false,
      ready: Promise.resolve(),
      exitedPromise: new Promise(resolve => child.once('close', () => resolve()))
    };
    instance.ready = this._waitReady(instance);
    instance.ready.catch(() => undefined);
    this._byKey.set(key, instance);
    this._byId.set(id, instance);
    void instance.exitedPromise.then(() => {
      instance.exited = true;
      this._forget(instance);
    });
    return instance;
  }

  private _waitReady(instance: Private.IInstance): Promise<void> {
    const { child } = instance;
    const python = this._options.python;
    return new Promise<void>((resolve, reject) => {
      let output = '';
      const onData = (chunk: Buffer): void => {
        output = (output + chunk.toString('utf8')).slice(-16384);
        const match = /TensorBoard \S+ at http:\/\/[^:/]+:(\d+)\//.exec(output);
        if (match && instance.port === null) {
          instance.port = Number(match[1]);
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      const timer = setTimeout(() => {
        reject(
          new TensorBoardError(
            'tensorboard-failed',
            `TensorBoard did not start within ${Math.round(this._startMs / 1000)} s${Private.tail(output)}`
          )
        );
        void this._stop(instance, 'it did not start');
      }, this._startMs);
      child.once('error', error => {
        clearTimeout(timer);
        reject(
          new TensorBoardError(
            'tensorboard-not-installed',
            `cannot run ${python} (${error.message}): install TensorBoard with ` +
              `\`python3 -m pip install tensorboard\`, or set the Python that has it`
          )
        );
      });
      child.once('close', code => {
        clearTimeout(timer);
        if (instance.port !== null) {
          return;
        }
        if (code === NOT_INSTALLED_EXIT) {
          reject(
            new TensorBoardError(
              'tensorboard-not-installed',
              `TensorBoard is not installed in ${python}: install it with ` +
                `\`${python} -m pip install tensorboard\``
            )
          );
        } else {
          reject(
            new TensorBoardError(
              'tensorboard-failed',
              `TensorBoard exited (code ${String(code)}) before it served${Private.tail(output)}`
            )
          );
        }
      });
    });
  }

  private get _startMs(): number {
    return this._options.startTimeoutMs ?? 90000;
  }

  private _stopIdle(): void {
    const now = Date.now();
    for (const instance of this._byId.values()) {
      if (instance.port !== null && now - instance.lastUsed >= this._idleMs) {
        void this._stop(instance, `no request reached it for ${Math.round(this._idleMs / 1000)} s`);
      }
    }
  }

  private _forget(instance: Private.IInstance): void {
    if (this._byKey.get(instance.key) === instance) {
      this._byKey.delete(instance.key);
    }
    this._byId.delete(instance.id);
  }

  private async _stop(instance: Private.IInstance, why: string): Promise<void> {
    this._forget(instance);
    if (instance.exited) {
      return;
    }
    this._options.log?.(`chard backend: stopping TensorBoard ${instance.id}: ${why}`);
    Private.signalGroup(instance.child, 'SIGTERM');
    const killed = setTimeout(() => Private.signalGroup(instance.child, 'SIGKILL'), 3000);
    await instance.exitedPromise;
    clearTimeout(killed);
    // The watchdog and anything TensorBoard started.
    Private.signalGroup(instance.child, 'SIGKILL');
  }

  private readonly _options: LocalTensorBoards.IOptions;
  private readonly _idleMs: number;
  private _prestarted: Private.IInstance | null = null;
  private readonly _timer: NodeJS.Timeout;
  private readonly _byKey = new Map<string, Private.IInstance>();
  private readonly _byId = new Map<string, Private.IInstance>();
}

namespace Private {
  export interface IInstance {
    id: string;
    key: string;
    logdirs: ILogDir[];
    child: ChildProcess;
    port: number | null;
    refs: number;
    lastUsed: number;
    exited: boolean;
    ready: Promise<void>;
    exitedPromise: Promise<void>;
  }

  export function handle(instance: IInstance, started: boolean): ITensorBoardHandle {
    return {
      id: instance.id,
      port: instance.port ?? 0,
      pid: instance.child.pid ?? 0,
      logdirs: instance.logdirs,
      refs: instance.refs,
      started
    };
  }

  export function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
    if (child.pid === undefined) {
      return;
    }
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  }

  /** The last lines of TensorBoard's output, for a failure message. */
  export function tail(output: string): string {
    const lines = output
      .split('\n')
      .map(l => l.trim())
      .filter(l => l.length > 0);
    return lines.length > 0 ? `: ${lines.slice(-3).join(' / ')}` : '';
  }
}
