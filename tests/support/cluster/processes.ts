/**
 * The control plane's child processes: each logs to a file in the cluster's folder, and a process
 * that exits while the cluster is up is reported with the last lines of its log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export class Processes {
  private readonly _dir: string;
  private readonly _children: { name: string; child: ChildProcess }[] = [];
  private _closing = false;
  /** Why a component died, if one did. */
  crashed: string | null = null;

  constructor(dir: string) {
    this._dir = dir;
  }

  logPath(name: string): string {
    return join(this._dir, `${name}.log`);
  }

  tail(name: string, lines = 25): string {
    try {
      return readFileSync(this.logPath(name), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  start(name: string, command: string, args: string[], env: Record<string, string> = {}): void {
    const out = openSync(this.logPath(name), 'a');
    const child = spawn(command, args, {
      stdio: ['ignore', out, out],
      env: { ...process.env, ...env }
    });
    closeSync(out);
    child.on('exit', (code, signal) => {
      if (!this._closing && this.crashed === null) {
        this.crashed = `${name} exited (${code ?? signal}):\n${this.tail(name)}`;
      }
    });
    this._children.push({ name, child });
  }

  /** Stop one component (the others go on), e.g. to restart Argo's controller. */
  async stop(name: string): Promise<void> {
    const at = this._children.findIndex(c => c.name === name);
    if (at < 0) {
      return;
    }
    const [{ child }] = this._children.splice(at, 1);
    child.removeAllListeners('exit');
    await Private.terminate(child);
  }

  /** Stop everything, newest first (controllers before the API server before etcd). */
  async close(): Promise<void> {
    this._closing = true;
    for (const { child } of this._children.reverse()) {
      await Private.terminate(child);
    }
    this._children.length = 0;
  }
}

/** A free port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

namespace Private {
  export function terminate(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) {
      return Promise.resolve();
    }
    return new Promise(resolve => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 10000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }
}
