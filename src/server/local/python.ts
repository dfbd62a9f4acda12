/**
 * Which Python runs the steps: `--python PATH` when given; else the interpreter of the notebook's
 * kernel (`metadata.kernelspec.name`, found with `jupyter kernelspec list --json` or in the usual
 * kernel directories, reading `argv[0]` of kernel.json); else `python3` from PATH.
 * Before a run, the chosen interpreter is asked whether it can import what the notebook imports.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { IPlan } from '../../core/index.js';
import { isRecord } from '../../core/index.js';
import { importedModules as planImports } from '../../core/python/imports.js';

export interface IPythonChoice {
  /** Absolute path (or bare command) of the interpreter. */
  command: string;
  /** How it was chosen, for messages: `--python`, `kernel "python3"`, `python3 on PATH`. */
  source: string;
}

/** Find an executable on PATH. */
export function which(command: string): string | null {
  if (command.includes('/')) {
    return Private.executable(command) ? path.resolve(command) : null;
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir) {
      const candidate = path.join(dir, command);
      if (Private.executable(candidate)) {
        return candidate;
      }
    }
  }
  return null;
}

/** The kernel directories Jupyter searches, most specific first. */
export function kernelDirs(): string[] {
  const dirs: string[] = [];
  for (const entry of (process.env.JUPYTER_PATH ?? '').split(path.delimiter)) {
    if (entry) {
      dirs.push(path.join(entry, 'kernels'));
    }
  }
  const data =
    process.env.JUPYTER_DATA_DIR ?? path.join(os.homedir(), '.local', 'share', 'jupyter');
  dirs.push(path.join(data, 'kernels'));
  const python = which('python3');
  if (python) {
    // sys.prefix of the python3 on PATH, without starting it: <prefix>/bin/python3.
    dirs.push(
      path.join(path.dirname(path.dirname(fs.realpathSync(python))), 'share', 'jupyter', 'kernels')
    );
  }
  dirs.push('/usr/local/share/jupyter/kernels', '/usr/share/jupyter/kernels');
  return dirs;
}

/** The interpreter of a named kernel, or null when the kernel cannot be found or is not Python. */
export async function kernelPython(name: string): Promise<string | null> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) {
    return null;
  }
  const specDirs: string[] = [];
  const jupyter = which('jupyter');
  if (jupyter) {
    const listed = await Private.execute(jupyter, ['kernelspec', 'list', '--json'], 5000);
    try {
      const data: unknown = JSON.parse(listed.stdout);
      if (isRecord(data) && isRecord(data.kernelspecs)) {
        const spec = data.kernelspecs[name];
        if (isRecord(spec) && typeof spec.resource_dir === 'string') {
          specDirs.push(spec.resource_dir);
        }
      }
    } catch {
      // not JSON: fall back to the directories
    }
  }
  specDirs.push(...kernelDirs().map(d => path.join(d, name)));
  for (const dir of specDirs) {
    try {
      const spec: unknown = JSON.parse(fs.readFileSync(path.join(dir, 'kernel.json'), 'utf8'));
      if (!isRecord(spec) || !Array.isArray(spec.argv) || typeof spec.argv[0] !== 'string') {
        continue;
      }
      if (typeof spec.language === 'string' && spec.language.toLowerCase() !== 'python') {
        return null;
      }
      const found = which(spec.argv[0]);
      if (found) {
        return found;
      }
    } catch {
      // no kernel.json here
    }
  }
  return null;
}

/** Choose the interpreter (see the module comment). */
export async function resolvePython(
  metadata: Record<string, unknown>,
  explicit: string | undefined
): Promise<IPythonChoice> {
  if (explicit) {
    const found = which(explicit);
    if (!found) {
      throw new PythonError(`--python ${explicit}: no such executable`);
    }
    return { command: found, source: '--python' };
  }
  const kernelspec = isRecord(metadata.kernelspec) ? metadata.kernelspec : {};
  if (typeof kernelspec.name === 'string') {
    const found = await kernelPython(kernelspec.name);
    if (found) {
      return { command: found, source: `kernel ${JSON.stringify(kernelspec.name)}` };
    }
  }
  const python = which('python3');
  if (!python) {
    throw new PythonError('no python3 on PATH and no kernel found; give one with --python PATH');
  }
  return { command: python, source: 'python3 on PATH' };
}

export class PythonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PythonError';
  }
}

/**
 * Top-level modules the plan's code imports (core's `importedModules`), for the pre-flight
 * check, less the modules that exist as files or packages in `workspace`.
 */
export function importedModules(plan: IPlan, workspace: string): string[] {
  return planImports(plan).filter(
    m =>
      !fs.existsSync(path.join(workspace, `${m}.py`)) &&
      !fs.existsSync(path.join(workspace, m, '__init__.py'))
  );
}

/** The modules `python` cannot find (module names travel as argv data, never as code). */
export async function missingModules(
  python: string,
  modules: readonly string[]
): Promise<string[]> {
  if (modules.length === 0) {
    return [];
  }
  const probe =
    'import importlib.util, json, sys\n' +
    'missing = []\n' +
    'for m in sys.argv[1:]:\n' +
    '    try:\n' +
    '        found = importlib.util.find_spec(m) is not None\n' +
    '    except Exception:\n' +
    '        found = False\n' +
    '    if not found:\n' +
    '        missing.append(m)\n' +
    'print(json.dumps(missing))\n';
  const result = await Private.execute(python, ['-c', probe, ...modules], 20000);
  try {
    const data: unknown = JSON.parse(result.stdout);
    return Array.isArray(data) ? data.filter((m): m is string => typeof m === 'string') : [];
  } catch {
    throw new PythonError(
      `${python} does not run (${result.stderr.trim().split('\n').pop() ?? 'no output'})`
    );
  }
}

/**
 * Check the interpreter can import what the notebook imports. Returns null when it can, else a
 * one-line message naming the missing modules and, when one has them, another interpreter.
 */
export async function checkImports(
  choice: IPythonChoice,
  modules: readonly string[]
): Promise<string | null> {
  const missing = await missingModules(choice.command, modules);
  if (missing.length === 0) {
    return null;
  }
  const alternatives = ['/usr/bin/python3', '/usr/local/bin/python3'].filter(
    p => p !== choice.command && Private.executable(p)
  );
  for (const alternative of alternatives) {
    if ((await missingModules(alternative, missing)).length === 0) {
      return (
        `${choice.command} (${choice.source}) cannot import ${missing.join(', ')}; ` +
        `${alternative} can: run with --python ${alternative}`
      );
    }
  }
  const debian: Record<string, string> = {
    numpy: 'python3-numpy',
    pandas: 'python3-pandas',
    sklearn: 'python3-sklearn',
    scipy: 'python3-scipy',
    matplotlib: 'python3-matplotlib',
    dill: 'python3-dill',
    joblib: 'python3-joblib'
  };
  const pip: Record<string, string> = { sklearn: 'scikit-learn' };
  return (
    `${choice.command} (${choice.source}) cannot import ${missing.join(', ')}; install them ` +
    `(${choice.command} -m pip install ${missing.map(m => pip[m] ?? m).join(' ')}` +
    (missing.every(m => debian[m])
      ? `, or apt-get install ${missing.map(m => debian[m]).join(' ')}`
      : '') +
    ') or choose another interpreter with --python PATH'
  );
}

namespace Private {
  /** Run a command to completion (no shell); never rejects: a failure is a non-zero code. */
  export function execute(
    command: string,
    args: readonly string[],
    timeoutMs: number
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise(resolve => {
      execFile(
        command,
        [...args],
        { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
          resolve({ code, stdout: String(stdout), stderr: String(stderr) });
        }
      );
    });
  }

  export function executable(file: string): boolean {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  }
}
