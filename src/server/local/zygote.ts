/**
 * The preloaded interpreter ("zygote") of a local run: one process of the notebook's Python,
 * started by the runner, that imports the step runtime and the installed modules the notebook's
 * `imports` cells name (numpy, pandas, scikit-learn...), then forks one child per step, so steps
 * skip those imports. A forked step keeps every guarantee of a spawned one:
 * - it is its own process and leads its own session and process group (setsid), so stopping it
 *   (SIGTERM, then SIGKILL to the group) reaches everything it started and nothing else;
 * - it dies with its parent (PR_SET_PDEATHSIG on Linux), and the zygote dies with the runner (the
 *   same, plus the end of its request pipe), so a runner killed with SIGKILL leaves nothing; a
 *   watchdog in the step's group (as in launcher.ts) SIGKILLs the group once the step or the
 *   runner is gone;
 * - its stdout and stderr are FIFOs the runner reads (made by the zygote in a private directory
 *   of the run directory, opened by the runner first, removed once both ends are open), so
 *   output streams live, per step;
 * - it starts from the zygote's state, never another step's: a step cannot see another's globals.
 *   The zygote runs no notebook code: it reads the `imports` cells as data (Python's `ast`) and
 *   imports the named modules that are installed outside the workspace (local modules are left
 *   to the step, so their import-time output and effects stay in the step), up to the first
 *   statement that is not an import (code such as `os.environ[...] = ...` may change what the
 *   imports after it do, so those are left to the step too). A fork reseeds
 *   numpy's global random state, as a fresh process would have it.
 * The zygote reports each child's pid at once and its exit status when it ends. Requests and
 * replies are JSON lines (argv, environment and paths as data; the Python source is constant:
 * src/runtime/zygote.py and lifetime.py, embedded by the build, run as `python -c`).
 * When the zygote cannot start, fails or dies, the runner starts steps as before (launcher.ts).
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { isRecord } from '../../core/index.js';
import { killGroupNow, OutputCollector, processStartTime, stopGroup } from './processes.js';
import type { IGroupProcess, IProcessExit, IStartOptions } from './processes.js';
import { ZYGOTE_SOURCE } from '../generated/local.js';

/** Why the zygote could not start a step; the runner then spawns it. */
export class ZygoteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ZygoteError';
  }
}

export interface IZygoteOptions {
  python: string;
  /** The folder holding chard_runtime.py; the FIFOs are made in it too. */
  runDir: string;
  /** A JSON file whose `imports` (the plan's imports cells) name the modules to preload. */
  planFile: string;
  /**
   * The working directory while preloading (the run's workspace, or the notebook's folder it is
   * a snapshot of): modules found there are the notebook's own and are left to the steps.
   */
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Give up on the zygote when it is not ready by then (default 120 s). */
  readyTimeoutMs?: number;
}

export interface IForkOptions extends Pick<IStartOptions, 'onLine' | 'logFile'> {
  /** The runtime's arguments (`--spec FILE`). */
  args: readonly string[];
  /** The run's folder (default: the zygote's runDir). */
  runDir?: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
}

interface IStepState {
  pid: number;
  exit: { code: number | null; signal: NodeJS.Signals | null; reason?: string } | null;
  onExit: () => void;
}

export class Zygote {
  /** Start the zygote; `ready` tells whether it can serve steps. */
  static start(options: IZygoteOptions): Zygote {
    return new Zygote(options);
  }

  /** Resolves true once the zygote serves steps, false when it cannot. */
  readonly ready: Promise<boolean>;

  /** The zygote's pid (-1 when it did not start). */
  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Why the zygote is unusable, or null. */
  get failure(): string | null {
    return this.failed;
  }

  /** The modules the zygote imported. */
  get preloaded(): readonly string[] {
    return this.modules;
  }

  /** Whether it is alive (starting or ready), not failed nor closed. */
  get usable(): boolean {
    return this.failed === null && !this.closing;
  }

  /**
   * Whether a package it preloaded changed on disk since (reinstalled, upgraded): a step forked
   * from it would run the old code. False while it starts.
   */
  stale(): boolean {
    return [...this.fileTimes].some(([file, time]) => Private.mtime(file) !== time);
  }

  /** Start one step as a fork of the zygote. Throws ZygoteError when it cannot. */
  async fork(options: IForkOptions): Promise<IGroupProcess> {
    if (this.failed !== null || !(await this.ready)) {
      throw new ZygoteError(this.failed ?? 'the preloaded interpreter is not running');
    }
    const id = ++this.nextId;
    const fifos = ['out', 'err'].map(s => path.join(this.fifoDir, `${id}.${s}`));
    const state: IStepState = { pid: -1, exit: null, onExit: () => undefined };
    this.steps.set(id, state);
    const fds: number[] = [];
    try {
      await this.request({ id, mkfifo: fifos });
      for (const fifo of fifos) {
        fds.push(fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK));
      }
      const reply = await this.request({
        id,
        argv: [...options.args],
        ...(options.runDir === undefined ? {} : { runDir: options.runDir }),
        cwd: options.cwd,
        env: Object.fromEntries(
          Object.entries(options.env).filter((e): e is [string, string] => e[1] !== undefined)
        ),
        stdout: fifos[0],
        stderr: fifos[1]
      });
      if (typeof reply.pid !== 'number') {
        throw new ZygoteError('the preloaded interpreter sent no pid');
      }
      state.pid = reply.pid;
    } catch (error) {
      this.steps.delete(id);
      fds.forEach(fd => fs.closeSync(fd));
      throw error instanceof ZygoteError ? error : new ZygoteError(String(error));
    } finally {
      fifos.forEach(fifo => fs.rmSync(fifo, { force: true }));
    }
    return Private.forkedProcess(state, fds, options, () => this.steps.delete(id));
  }

  /** End the zygote (steps still running die with it). */
  async close(): Promise<void> {
    this.closing = true;
    if (this.child.exitCode === null && this.child.signalCode === null && this.pid > 0) {
      const gone = new Promise<void>(r => this.child.once('exit', () => r()));
      this.child.stdin.end();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
      await gone;
      clearTimeout(timer);
    }
    fs.rmSync(this.fifoDir, { recursive: true, force: true });
  }

  private constructor(options: IZygoteOptions) {
    // In the run directory: a runner killed with SIGKILL leaves at most an empty directory there.
    this.fifoDir = fs.mkdtempSync(path.join(options.runDir, '.fifos-'));
    this.child = spawn(
      options.python,
      ['-c', ZYGOTE_SOURCE, String(process.pid), options.runDir, options.planFile],
      {
        cwd: options.cwd,
        env: options.env,
        detached: true,
        shell: false,
        stdio: ['pipe', 'pipe', 'pipe']
      }
    );
    let settle: (ok: boolean) => void = () => undefined;
    this.ready = new Promise<boolean>(r => {
      settle = r;
    });
    const timer = setTimeout(() => {
      this.fail('the preloaded interpreter was not ready in time');
      this.child.kill('SIGKILL');
    }, options.readyTimeoutMs ?? 120000);
    timer.unref();
    this.settleReady = (ok: boolean) => {
      clearTimeout(timer);
      settle(ok);
    };
    this.child.stdin.on('error', () => undefined); // EPIPE after its death: seen as 'exit'
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-2000);
    });
    let partial = '';
    this.child.stdout.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      lines.forEach(line => this.receive(line));
    });
    this.child.once('error', error => {
      this.fail(`cannot start ${options.python}: ${(error as NodeJS.ErrnoException).code ?? ''}`);
    });
    this.child.once('exit', (code, signal) => {
      const last = this.stderr.trim().split('\n').pop() ?? '';
      this.fail(
        `the preloaded interpreter ended (${signal ?? `exit code ${code ?? '?'}`})${last ? `: ${last}` : ''}`
      );
    });
  }

  private receive(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      return;
    }
    if (!isRecord(message)) {
      return;
    }
    if (typeof message.ready === 'number') {
      this.modules = Array.isArray(message.preloaded) ? message.preloaded.map(String) : [];
      for (const file of Object.values(isRecord(message.files) ? message.files : {})) {
        if (typeof file === 'string') {
          this.fileTimes.set(file, Private.mtime(file));
        }
      }
      this.settleReady(true);
      return;
    }
    const id = Number(message.id);
    if ('exit' in message) {
      const state = this.steps.get(id);
      if (state && state.exit === null) {
        state.exit = {
          code: typeof message.exit === 'number' ? message.exit : null,
          signal: Private.signalName(message.signal)
        };
        state.onExit();
      }
      return;
    }
    const waiter = this.waiters.get(id);
    if (waiter) {
      this.waiters.delete(id);
      waiter(message);
    }
  }

  private request(message: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = Number(message.id);
    return new Promise((resolve, reject) => {
      if (this.failed !== null) {
        reject(new ZygoteError(this.failed));
        return;
      }
      this.waiters.set(id, reply => {
        if (typeof reply.error === 'string') {
          reject(
            new ZygoteError(`the preloaded interpreter cannot start the step: ${reply.error}`)
          );
        } else {
          resolve(reply);
        }
      });
      this.child.stdin.write(JSON.stringify(message) + '\n');
    });
  }

  /** The zygote is unusable: fail what waits on it; its running steps died with it. */
  private fail(reason: string): void {
    if (this.failed !== null) {
      return;
    }
    this.failed = reason;
    this.settleReady(false);
    for (const waiter of this.waiters.values()) {
      waiter({ error: reason });
    }
    this.waiters.clear();
    for (const state of this.steps.values()) {
      if (state.exit === null && state.pid > 0) {
        killGroupNow(state.pid);
        state.exit = {
          code: null,
          signal: 'SIGKILL',
          reason: this.closing ? undefined : 'the preloaded interpreter it was forked from ended'
        };
        state.onExit();
      }
    }
  }

  private readonly child: ChildProcessWithoutNullStreams;
  private readonly fifoDir: string;
  private readonly steps = new Map<number, IStepState>();
  private readonly waiters = new Map<number, (reply: Record<string, unknown>) => void>();
  private settleReady: (ok: boolean) => void = () => undefined;
  private failed: string | null = null;
  private closing = false;
  private stderr = '';
  private modules: string[] = [];
  private readonly fileTimes = new Map<string, number>();
  private nextId = 0;
}

namespace Private {
  const NAMES = new Map(
    Object.entries(os.constants.signals).map(([name, num]) => [num, name as NodeJS.Signals])
  );

  export function mtime(file: string): number {
    try {
      return fs.statSync(file).mtimeMs;
    } catch {
      return -1;
    }
  }

  export function signalName(value: unknown): NodeJS.Signals | null {
    return typeof value === 'number' ? (NAMES.get(value) ?? 'SIGKILL') : null;
  }

  /** The runner's view of a forked step: its FIFOs read like a spawned step's pipes. */
  export function forkedProcess(
    state: IStepState,
    fds: number[],
    options: IForkOptions,
    forget: () => void
  ): IGroupProcess {
    const pid = state.pid;
    const output = new OutputCollector(options);
    const streams = fds.map(fd => new net.Socket({ fd, readable: true, writable: false }));
    streams[0].on('data', output.onData('stdout'));
    streams[1].on('data', output.onData('stderr'));
    streams.forEach(s => s.on('error', () => undefined));
    const closed = Promise.all(streams.map(s => new Promise<void>(r => s.once('close', r))));
    const exited = new Promise<IProcessExit>(resolve => {
      const ended = new Promise<void>(r => {
        state.onExit = () => r();
        if (state.exit !== null) {
          r();
        }
      });
      void ended.then(() => {
        // As for a spawned step: nothing it started may outlive it, nor hold the run waiting.
        killGroupNow(pid);
        setTimeout(() => streams.forEach(s => s.destroy()), 2000).unref();
      });
      void Promise.all([ended, closed]).then(async () => {
        forget();
        const lastStderr = await output.close();
        const exit = state.exit ?? { code: null, signal: null };
        resolve({ code: exit.code, signal: exit.signal, lastStderr, reason: exit.reason });
      });
    });
    return {
      pid,
      start: processStartTime(pid),
      exited,
      stop: (graceMs: number) => stopGroup(pid, graceMs)
    };
  }
}
