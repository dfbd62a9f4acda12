/**
 * Child processes of the local runner. Every step runs in its own process group (spawned
 * detached, with an argv array and no shell), so stopping a step reaches everything it started:
 * SIGTERM to the group, then SIGKILL after a grace period. On Linux, process identity is checked
 * with the kernel's start time so a recycled pid is never signalled.
 */
import { sleep } from '../common/retry.js';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

export interface IProcessExit {
  /** Exit code, or null when the process was ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines the process wrote on stderr (up to 50). */
  lastStderr: string[];
  /** Why the process ended, when the runner knows better than the exit status. */
  reason?: string;
}

export interface IStartOptions {
  command: string;
  args: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Every complete line of output, as it is produced. */
  onLine?: (stream: 'stdout' | 'stderr', line: string) => void;
  /** Append the raw output of both streams to this file. */
  logFile?: string;
}

export interface IGroupProcess {
  pid: number;
  /** Kernel start time (Linux), null elsewhere. */
  start: string | null;
  /** Resolves when the process has exited, its group is gone and its output is flushed. */
  readonly exited: Promise<IProcessExit>;
  /** Stop the whole process group: SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs: number): Promise<void>;
}

/** Why a process could not be started, in one line. */
export class StartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartError';
  }
}

/**
 * The output of a step: the raw bytes of both streams appended to the log file, complete lines
 * passed on as they come, the last 50 lines of stderr kept for the failure message.
 */
export class OutputCollector {
  constructor(options: Pick<IStartOptions, 'onLine' | 'logFile'>) {
    this.onLine = options.onLine;
    this.log = options.logFile ? fs.createWriteStream(options.logFile, { flags: 'a' }) : null;
  }

  /** A `data` listener for one stream. */
  onData(stream: 'stdout' | 'stderr'): (chunk: Buffer) => void {
    return chunk => {
      this.log?.write(chunk);
      const text = this.partial[stream] + chunk.toString('utf8');
      const lines = text.split('\n');
      this.partial[stream] = lines.pop() ?? '';
      for (const line of lines) {
        this.emit(stream, line.endsWith('\r') ? line.slice(0, -1) : line);
      }
    };
  }

  /** Pass on the unfinished last lines, close the log; resolves to the last stderr lines. */
  async close(): Promise<string[]> {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream].length > 0) {
        this.emit(stream, this.partial[stream]);
        this.partial[stream] = '';
      }
    }
    const log = this.log;
    this.log = null;
    if (log) {
      await new Promise<void>(r => log.end(() => r()));
    }
    return this.lastStderr;
  }

  private emit(stream: 'stdout' | 'stderr', line: string): void {
    if (stream === 'stderr') {
      this.lastStderr.push(line);
      if (this.lastStderr.length > 50) {
        this.lastStderr.shift();
      }
    }
    this.onLine?.(stream, line);
  }

  private readonly onLine: IStartOptions['onLine'];
  private log: fs.WriteStream | null;
  private readonly lastStderr: string[] = [];
  private readonly partial = { stdout: '', stderr: '' };
}

/** Start a process in a new process group. */
export function startGroupProcess(options: IStartOptions): Promise<IGroupProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(options.command, [...options.args], {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe']
    });
    const output = new OutputCollector(options);
    child.stdout.on('data', output.onData('stdout'));
    child.stderr.on('data', output.onData('stderr'));

    let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let resolveExited: (value: IProcessExit) => void = () => undefined;
    const exited = new Promise<IProcessExit>(r => {
      resolveExited = r;
    });
    let pid = -1;
    const finish = async (): Promise<void> => {
      const lastStderr = await output.close();
      resolveExited({
        code: exitInfo?.code ?? null,
        signal: exitInfo?.signal ?? null,
        lastStderr
      });
    };

    child.once('error', error => {
      void output.close();
      const code = (error as NodeJS.ErrnoException).code ?? error.message;
      reject(new StartError(`cannot start ${options.command}: ${code}`));
    });
    child.once('spawn', () => {
      pid = child.pid ?? -1;
      const start = processStartTime(pid);
      child.once('exit', (code, signal) => {
        exitInfo = { code, signal };
        // The step is over: nothing it started may outlive it. Descendants that still hold
        // the output pipes open would otherwise keep the run waiting.
        killGroupNow(pid);
        // A process that left the group (setsid) may still hold the pipes: stop waiting.
        setTimeout(() => {
          child.stdout.destroy();
          child.stderr.destroy();
        }, 2000).unref();
      });
      child.once('close', () => {
        void finish();
      });
      resolve({
        pid,
        start,
        exited,
        stop: (graceMs: number) => stopGroup(pid, graceMs)
      });
    });
  });
}

/** Process start time (field 22 of /proc/PID/stat), or null when unknown. */
export function processStartTime(pid: number): string | null {
  return Private.stat(pid)?.start ?? null;
}

/** Is the process alive (not a zombie) and the same one that was recorded? */
export function isProcessAlive(pid: number, start: string | null = null): boolean {
  if (!Number.isInteger(pid) || pid <= 1) {
    return false;
  }
  if (Private.HAS_PROC) {
    const stat = Private.stat(pid);
    return stat !== null && stat.live && (start === null || stat.start === start);
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Live (non-zombie) members of a process group. */
export function groupMembers(pgid: number): number[] {
  if (!Number.isInteger(pgid) || pgid <= 1) {
    return [];
  }
  if (!Private.HAS_PROC) {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
  const members: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (/^[0-9]+$/.test(name)) {
      const stat = Private.stat(Number(name)); // null: it ended while we looked
      if (stat && stat.live && stat.pgid === pgid) {
        members.push(Number(name));
      }
    }
  }
  return members;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  if (!Number.isInteger(pgid) || pgid <= 1) {
    return;
  }
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone
  }
}

/** SIGKILL whatever is left of a group, immediately. */
export function killGroupNow(pgid: number): void {
  if (groupMembers(pgid).length > 0) {
    signalGroup(pgid, 'SIGKILL');
  }
}

/**
 * Stop a process group: SIGTERM, wait up to `graceMs` for every member to exit, then SIGKILL
 * and wait for them to be gone.
 */
export async function stopGroup(pgid: number, graceMs: number): Promise<void> {
  if (groupMembers(pgid).length === 0) {
    return;
  }
  signalGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (groupMembers(pgid).length === 0) {
      return;
    }
    await sleep(50);
  }
  signalGroup(pgid, 'SIGKILL');
  const hardDeadline = Date.now() + 5000;
  while (groupMembers(pgid).length > 0 && Date.now() < hardDeadline) {
    await sleep(20);
  }
}

namespace Private {
  export const HAS_PROC = fs.existsSync('/proc/self/stat');

  /** The fields of /proc/PID/stat the runner uses; null when the process does not exist. */
  export function stat(pid: number): { live: boolean; pgid: number; start: string } | null {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return null;
    }
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    // What follows starts at field 3 (state); field 5 is the group, field 22 the start time.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return {
      live: fields[0] !== 'Z' && fields[0] !== 'X',
      pgid: Number(fields[2]),
      start: fields[19]
    };
  }
}
