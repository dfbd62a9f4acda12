/** End-to-end helpers: the real `chard` command, and straight notebook execution with nbclient. */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';

/** Jest runs from the repository root. */
export const ROOT = process.cwd();
export const BIN = path.join(ROOT, 'bin', 'chard.js');
export const PYTHON = '/usr/bin/python3';

export interface ICliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `chard ARGS` to completion. */
export function chard(args: string[], cwd = ROOT): Promise<ICliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe']
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', d => (stdout += String(d)));
    child.stderr.on('data', d => (stderr += String(d)));
    child.on('error', reject);
    child.on('close', code => resolve({ code, stdout, stderr }));
  });
}

export interface IRunningChard {
  child: ChildProcessWithoutNullStreams;
  /** Everything written on stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code when the command has ended. */
  exited: Promise<number | null>;
}

/** Start `chard ARGS` and keep it running (for cancellation and `--follow` tests). */
export function startChard(args: string[], cwd = ROOT): IRunningChard {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', d => (stdout += String(d)));
  child.stderr.on('data', d => (stderr += String(d)));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited: new Promise(r => child.on('close', code => r(code)))
  };
}

/** Parse `--json` output: one RunEvent per line. */
export function events(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter(l => l.trim())
    .map(l => JSON.parse(l) as Record<string, unknown>);
}

/**
 * A fingerprint of a Python value that is equal exactly when the values are: arrays and frames by
 * their bytes, plain data by canonical JSON, anything else (fitted models) by its pickle.
 */
const FINGERPRINT = String.raw`
def _chard_fingerprint(value):
    import hashlib, json, pickle
    try:
        import numpy as np
        if isinstance(value, np.ndarray):
            return "ndarray:%s:%s:%s" % (value.dtype, value.shape, hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest())
    except ImportError:
        pass
    try:
        import pandas as pd
        if isinstance(value, (pd.DataFrame, pd.Series)):
            h = hashlib.sha256(pd.util.hash_pandas_object(value, index=True).values.tobytes())
            if isinstance(value, pd.DataFrame):
                h.update(repr([list(value.columns), list(map(str, value.dtypes))]).encode())
            else:
                h.update(repr([value.name, str(value.dtype)]).encode())
            return "frame:" + h.hexdigest()
    except ImportError:
        pass
    if hasattr(value, "predict") and hasattr(value, "n_features_in_"):
        # a fitted model: same parameters and same predictions on a fixed probe
        import numpy as np
        probe = np.random.RandomState(0).normal(size=(500, value.n_features_in_))
        out = value.predict_proba(probe) if hasattr(value, "predict_proba") else value.predict(probe)
        h = hashlib.sha256(np.ascontiguousarray(out).tobytes())
        h.update(repr(sorted(value.get_params().items())).encode())
        return "model:%s:%s" % (type(value).__name__, h.hexdigest())
    try:
        return "json:" + json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return "pickle:" + hashlib.sha256(pickle.dumps(value, protocol=4)).hexdigest()
`;

/**
 * Execute a notebook top to bottom with Debian's nbclient (kernel python3) in its directory and
 * return fingerprints of the given names from the kernel's namespace. Test code: the names are
 * the test's own.
 */
export function straightRun(notebook: string, names: string[]): Record<string, string> {
  const script = String.raw`
import json, sys, nbformat
from nbclient import NotebookClient
path, names = sys.argv[1], json.loads(sys.argv[2])
nb = nbformat.read(path, as_version=4)
probe = sys.argv[3] + "\nimport json as _json\nprint('CHARD_VALUES ' + _json.dumps({n: _chard_fingerprint(globals()[n]) for n in %s}))" % json.dumps(names)
nb.cells.append(nbformat.v4.new_code_cell(probe))
client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[4]}})
client.execute()
for out in nb.cells[-1].outputs:
    for line in out.get("text", "").splitlines():
        if line.startswith("CHARD_VALUES "):
            print(line[len("CHARD_VALUES "):])
`;
  const result = spawnSync(
    PYTHON,
    ['-c', script, notebook, JSON.stringify(names), FINGERPRINT, path.dirname(notebook)],
    { encoding: 'utf8', timeout: 600000 }
  );
  if (result.status !== 0) {
    throw new Error(`nbclient failed: ${result.stderr}`);
  }
  return JSON.parse(result.stdout.trim().split('\n').pop() as string) as Record<string, string>;
}

/** Fingerprints of values a run stored (DATA_DIR/STEP_ID/NAME/manifest.json + value file). */
export function storedValues(
  dataDir: string,
  values: { stepId: string; name: string }[]
): Record<string, string> {
  const script = String.raw`
import json, os, pickle, sys
data, wanted = sys.argv[1], json.loads(sys.argv[2])
exec(sys.argv[3])
out = {}
for item in wanted:
    d = os.path.join(data, item["stepId"], item["name"])
    m = json.load(open(os.path.join(d, "manifest.json")))
    f = os.path.join(d, m["file"])
    if m["backend"] == "numpy":
        import numpy as np
        v = np.load(f, allow_pickle=False)
    elif m["backend"] == "parquet":
        import pandas as pd
        v = pd.read_parquet(f)
    elif m["backend"] == "joblib":
        import joblib
        v = joblib.load(f)
    elif m["backend"] == "dill":
        import dill
        v = dill.load(open(f, "rb"))
    else:
        v = pickle.load(open(f, "rb"))
    out[item["name"]] = _chard_fingerprint(v)
print(json.dumps(out))
`;
  const result = spawnSync(PYTHON, ['-c', script, dataDir, JSON.stringify(values), FINGERPRINT], {
    encoding: 'utf8'
  });
  if (result.status !== 0) {
    throw new Error(`loading stored values failed: ${result.stderr}`);
  }
  return JSON.parse(result.stdout) as Record<string, string>;
}
