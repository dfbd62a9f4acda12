/**
 * Marshalling throughput: a 1 GiB float64 numpy array saved by one step and loaded by the next,
 * through the embedded step runtime (the exact code shipped in manifests), next to `cp` of the
 * same file on the same disk, measured in the same run.
 *
 * Figures: the runtime's own save and load times (what it logs: write + sha256 + fsync + rename,
 * then sha256 verify + map), the whole step processes (interpreter start, numpy import, building
 * the array), `cp` alone and `cp` followed by `sync` (the runtime fsyncs each value; cp does not).
 * Target (issue 3): marshalling at least half of cp's throughput.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RUNTIME_SOURCE } from '../src/core/generated/runtime.js';
import type { IStepSpec } from '../src/core/stepspec.js';

const PYTHON = process.env.CHARD_PYTHON ?? '/usr/bin/python3';
const GIB = 1024 ** 3;
const ELEMENTS = GIB / 8;

interface IProcessResult {
  code: number | null;
  stderr: string;
  seconds: number;
}

function runProcess(command: string, args: string[], cwd: string): Promise<IProcessResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', code => {
      resolve({ code, stderr, seconds: (performance.now() - started) / 1000 });
    });
  });
}

/** The runtime logs `chard: saved|loaded NAME (...) in S s`; return S. */
function loggedSeconds(stderr: string, verb: 'saved' | 'loaded'): number {
  const match = new RegExp(`^chard: ${verb} x \\(.*\\) in ([0-9.]+) s`, 'm').exec(stderr);
  if (!match) {
    throw new Error(`bench: the runtime did not report "${verb} x"; stderr:\n${stderr}`);
  }
  return Number(match[1]);
}

function spec(
  step: string,
  code: string,
  inputs: IStepSpec['inputs'],
  outputs: string[]
): IStepSpec {
  return {
    version: 1,
    pipeline: 'marshal-bench',
    step,
    stepId: step,
    code: [{ cell: 0, source: code }],
    parameters: {},
    inputs,
    outputs,
    metrics: [],
    dataDir: 'data',
    workdir: ''
  };
}

function mbps(bytes: number, seconds: number): string {
  return `${(bytes / 1e6 / seconds).toFixed(0)} MB/s`;
}

async function step(dir: string, runtime: string, stepSpec: IStepSpec): Promise<IProcessResult> {
  const file = join(dir, `${stepSpec.stepId}.json`);
  writeFileSync(file, JSON.stringify(stepSpec));
  const result = await runProcess(PYTHON, [runtime, '--spec', file], dir);
  if (result.code !== 0) {
    throw new Error(
      `bench: step ${stepSpec.step} exited ${String(result.code)}:\n${result.stderr}`
    );
  }
  return result;
}

export async function run(): Promise<void> {
  const outRoot = fileURLToPath(new URL('../../bench/out/', import.meta.url));
  mkdirSync(outRoot, { recursive: true });
  const dir = mkdtempSync(join(outRoot, 'marshal-'));
  try {
    const runtime = join(dir, 'chard_runtime.py');
    writeFileSync(runtime, RUNTIME_SOURCE);
    const produce = await step(
      dir,
      runtime,
      spec(
        'produce',
        `import numpy as np\nx = np.arange(${ELEMENTS}, dtype=np.float64)\n`,
        [],
        ['x']
      )
    );
    const consume = await step(
      dir,
      runtime,
      spec(
        'consume',
        `assert x.shape == (${ELEMENTS},) and x[-1] == ${ELEMENTS - 1}\n`,
        [{ name: 'x', from: 'produce', fromId: 'produce' }],
        []
      )
    );
    const valueFile = join(dir, 'data', 'produce', 'x', 'value.npy');
    const bytes = statSync(valueFile).size;
    const copy = await runProcess('cp', [valueFile, join(dir, 'copy.npy')], dir);
    rmSync(join(dir, 'copy.npy'));
    const copySync = await runProcess(
      'sh',
      ['-c', 'cp "$0" "$1" && sync', valueFile, join(dir, 'copy.npy')],
      dir
    );
    if (copy.code !== 0 || copySync.code !== 0) {
      throw new Error(`bench: cp failed: ${copy.stderr}${copySync.stderr}`);
    }

    const save = loggedSeconds(produce.stderr, 'saved');
    const load = loggedSeconds(consume.stderr, 'loaded');
    const marshal = save + load;
    console.log(`value: ${(bytes / GIB).toFixed(2)} GiB float64 .npy, ${PYTHON}, dir ${dir}`);
    console.log(`save (write+sha256+fsync+rename)   ${save.toFixed(3)} s  ${mbps(bytes, save)}`);
    console.log(`load (sha256 verify + map)         ${load.toFixed(3)} s  ${mbps(bytes, load)}`);
    console.log(
      `marshal step->step (save+load)     ${marshal.toFixed(3)} s  ${mbps(bytes, marshal)}`
    );
    console.log(
      `whole step processes (incl. start)  ${(produce.seconds + consume.seconds).toFixed(3)} s ` +
        `(produce ${produce.seconds.toFixed(2)} s, consume ${consume.seconds.toFixed(2)} s)`
    );
    console.log(
      `cp                                 ${copy.seconds.toFixed(3)} s  ${mbps(bytes, copy.seconds)}`
    );
    console.log(
      `cp + sync                          ${copySync.seconds.toFixed(3)} s  ${mbps(bytes, copySync.seconds)}`
    );
    const ratio = copy.seconds / marshal;
    const ratioSync = copySync.seconds / marshal;
    console.log(
      `ratio marshal/cp = ${ratio.toFixed(2)} (target >= 0.5: ${ratio >= 0.5 ? 'met' : 'NOT met'}); ` +
        `marshal/(cp+sync) = ${ratioSync.toFixed(2)}`
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
