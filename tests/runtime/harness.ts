/** Running the Python step runtime (src/runtime/chard_runtime/, joined by the build) from tests. */
import { spawn } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ICodeBlock } from '../../src/core/plan.js';
import type { IStepSpec, IStepSpecInput } from '../../src/core/stepspec.js';

/** Debian's python3, which sees python3-numpy/pandas/sklearn/dill (the pyenv one does not). */
export const PYTHON = '/usr/bin/python3';
/** The joined runtime that every target runs, as `npm run build` writes it. */
export const RUNTIME = join(process.cwd(), 'lib/runtime/chard_runtime.py');
export const FIXTURES = join(process.cwd(), 'tests/fixtures/runtime');

export interface IStepRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stderr lines, without the trailing empty one. */
  errLines: string[];
}

export interface IRunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Called with each stdout chunk as it arrives, with the time since start (ms). */
  onStdout?: (chunk: string, ms: number) => void;
  /** Options of the interpreter itself (before the runtime's path), e.g. `-I -S`. */
  pythonArgs?: string[];
}

export function runRuntime(args: string[], options: IRunOptions = {}): Promise<IStepRun> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(PYTHON, [...(options.pythonArgs ?? []), RUNTIME, ...args], {
      cwd: options.cwd ?? process.cwd(),
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/root',
        ...options.env
      },
      stdio: ['ignore', 'pipe', 'pipe']
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      options.onStdout?.(chunk, Date.now() - started);
    });
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', code => {
      const errLines = stderr.split('\n');
      if (errLines[errLines.length - 1] === '') {
        errLines.pop();
      }
      resolve({ code, stdout, stderr, errLines });
    });
  });
}

export interface IChardError {
  cell: number | null;
  line: number | null;
  type: string;
  message: string;
}

/** The machine-readable last stderr line, or throws when it is not there. */
export function chardError(run: IStepRun): IChardError {
  const last = run.errLines[run.errLines.length - 1] ?? '';
  if (!last.startsWith('CHARD_ERROR ')) {
    throw new Error(`no CHARD_ERROR as the last stderr line:\n${run.stderr}`);
  }
  return JSON.parse(last.slice('CHARD_ERROR '.length)) as IChardError;
}

/** A scratch directory (workdir + data dir) removed by `dispose`. */
export class Scratch {
  readonly root: string;
  readonly data: string;
  readonly work: string;

  constructor(prefix = 'chard-runtime-') {
    this.root = mkdtempSync(join(tmpdir(), prefix));
    this.data = join(this.root, 'data');
    this.work = join(this.root, 'work');
    mkdirSync(this.work);
  }

  /** Write a spec to a file and run it with --spec, data dir and workdir in the scratch dir. */
  async run(spec: IStepSpec, extra: string[] = [], options: IRunOptions = {}): Promise<IStepRun> {
    const file = join(this.root, `${spec.stepId}.spec.json`);
    writeFileSync(file, JSON.stringify(spec));
    return runRuntime(
      ['--spec', file, '--data-dir', this.data, '--workdir', this.work, ...extra],
      options
    );
  }

  dispose(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

export interface ISpecParts {
  step?: string;
  code: (string | ICodeBlock)[];
  parameters?: IStepSpec['parameters'];
  inputs?: (string | IStepSpecInput)[];
  /** The step (name = id) that produces the inputs given as strings; default `producer`. */
  from?: string;
  outputs?: string[];
  metrics?: string[];
}

/** A hand-written step spec: code strings get consecutive cell indices from 0. */
export function stepSpec(parts: ISpecParts): IStepSpec {
  const step = parts.step ?? 'step';
  const from = parts.from ?? 'producer';
  return {
    version: 1,
    pipeline: 'test',
    step,
    stepId:
      step
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-|-$/g, '') || 'step',
    code: parts.code.map((c, i) => (typeof c === 'string' ? { cell: i, source: c } : c)),
    parameters: parts.parameters ?? {},
    inputs: (parts.inputs ?? []).map(i =>
      typeof i === 'string' ? { name: i, from, fromId: from } : i
    ),
    outputs: parts.outputs ?? [],
    metrics: parts.metrics ?? [],
    dataDir: 'unused-default-data',
    workdir: ''
  };
}

/** Fail with the step's output when it did not exit 0. */
export function expectOk(run: IStepRun): IStepRun {
  if (run.code !== 0) {
    throw new Error(
      `step exited ${String(run.code)}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`
    );
  }
  return run;
}

/** Flip one bit of the byte at `position` of `file`, in place (a corrupted value file). */
export function flipByte(file: string, position: number): void {
  const fd = openSync(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, position);
    byte[0] ^= 0x40;
    writeSync(fd, byte, 0, 1, position);
  } finally {
    closeSync(fd);
  }
}
