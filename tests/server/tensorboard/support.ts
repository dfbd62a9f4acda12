/**
 * Shared by the TensorBoard tests: the test virtualenv's Python (it has `tensorboard` and
 * `tensorboardX` from PyPI, installed by scripts/setup-venv.sh), run folders with real event
 * files, and requests to a TensorBoard's own HTTP data API.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import http from 'node:http';
import * as path from 'node:path';

export const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');

/** The virtualenv's Python; a clear failure (not a skip) when scripts/setup-venv.sh did not run. */
export function venvPython(): string {
  const python = path.join(process.env.CHARD_VENV ?? path.join(REPO, '.venv'), 'bin', 'python');
  if (!fs.existsSync(python)) {
    throw new Error(
      `${python} is missing: set up the test virtualenv with bash scripts/setup-venv.sh`
    );
  }
  return python;
}

export interface IWrittenRuns {
  runA: string;
  runB: string;
  steps: number;
}

/** Write the two runs of tests/fixtures/tensorboard/write_runs.py into `root`. */
export function writeRuns(root: string): IWrittenRuns {
  const script = path.join(REPO, 'tests', 'fixtures', 'tensorboard', 'write_runs.py');
  const out = execFileSync(venvPython(), [script, root], { encoding: 'utf8' });
  return JSON.parse(out) as IWrittenRuns;
}

/** The value the fixture wrote for `loss` at `step`. */
export function expectedLoss(step: number, offset: number): number {
  return 1 / (step + 1) + offset;
}

export interface IHttpAnswer {
  status: number;
  text: string;
}

export function get(url: string, headers: Record<string, string> = {}): Promise<IHttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers }, res => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() })
      );
    });
    req.on('error', reject);
  });
}

/** Whether a process is alive (a zombie counts as gone). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.split(')').pop()?.trim().split(' ')[0] !== 'Z';
  } catch {
    return false;
  }
}

export async function waitUntil(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (predicate()) {
      return true;
    }
    await new Promise(r => setTimeout(r, 50));
  }
  return predicate();
}

/** TensorBoard's scalar points `[wall_time, step, value]` of one run and tag. */
export async function scalars(
  base: string,
  run: string,
  tag: string
): Promise<[number, number, number][]> {
  const answer = await get(
    `${base}data/plugin/scalars/scalars?run=${encodeURIComponent(run)}&tag=${encodeURIComponent(tag)}`
  );
  if (answer.status !== 200) {
    throw new Error(`scalars ${run}/${tag}: HTTP ${answer.status}: ${answer.text.slice(0, 200)}`);
  }
  return JSON.parse(answer.text) as [number, number, number][];
}
