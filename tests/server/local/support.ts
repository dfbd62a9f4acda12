/** Helpers for the local runner tests: notebooks written like real ones, a tiny fake runtime. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { analyzeNotebook } from '../../../src/core/analyze.js';
import { readNotebook } from '../../../src/core/notebook.js';
import type { IPlan } from '../../../src/core/plan.js';

export const PYTHON = '/usr/bin/python3';

export interface ICellSpec {
  tags?: string[];
  source: string;
}

/** nbformat 4 JSON for code cells with tags. */
export function notebookJson(cells: ICellSpec[], metadata: Record<string, unknown> = {}): unknown {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
      ...metadata
    },
    cells: cells.map(c => ({
      cell_type: 'code',
      metadata: { tags: c.tags ?? [] },
      source: c.source,
      outputs: [],
      execution_count: null
    }))
  };
}

/** Write a notebook into a fresh directory; returns its path and plan. */
export function writeNotebook(
  cells: ICellSpec[],
  files: Record<string, string> = {},
  name = 'flow.ipynb',
  metadata: Record<string, unknown> = {}
): { dir: string; notebook: string; plan: IPlan } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-local-'));
  const json = notebookJson(cells, metadata);
  const notebook = path.join(dir, name);
  fs.writeFileSync(notebook, JSON.stringify(json, null, 1));
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), content);
  }
  const plan = analyzeNotebook(readNotebook(json, name), { fileName: name });
  return { dir, notebook, plan };
}

/**
 * A fake step runtime honouring the contract of src/core/stepspec.ts (spec in, pickled values
 * in DATA_DIR/ID/NAME/, metrics in _metrics.json, CHARD_ERROR on failure), standard library only.
 */
export const FAKE_RUNTIME = String.raw`
import json, os, pickle, sys, traceback


def main(argv):
    run(json.load(open(argv[argv.index("--spec") + 1])))
    return 0


def run(spec):

    data = spec["dataDir"]
    os.chdir(spec["workdir"])
    ns = {"__name__": "__main__"}
    for name, p in spec["parameters"].items():
        ns[name] = p["value"]
    for i in spec["inputs"]:
        with open(os.path.join(data, i["fromId"], i["name"], "value.pkl"), "rb") as f:
            ns[i["name"]] = pickle.load(f)
    try:
        for block in spec["code"]:
            exec(compile(block["source"], "<cell %d>" % block["cell"], "exec"), ns)
    except BaseException as e:
        cell, line = None, None
        for fs in traceback.extract_tb(e.__traceback__):
            if fs.filename.startswith("<cell "):
                cell, line = int(fs.filename[6:-1]), fs.lineno
        traceback.print_exc()
        sys.stderr.write("CHARD_ERROR " + json.dumps({"cell": cell, "line": line, "type": type(e).__name__, "message": str(e)}) + "\n")
        sys.exit(1)
    os.makedirs(os.path.join(data, spec["stepId"]), exist_ok=True)
    for name in spec["outputs"]:
        d = os.path.join(data, spec["stepId"], name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "value.pkl"), "wb") as f:
            pickle.dump(ns[name], f)
        with open(os.path.join(d, "manifest.json"), "w") as f:
            json.dump({"name": name, "file": "value.pkl", "size": os.path.getsize(os.path.join(d, "value.pkl"))}, f)
    if spec["metrics"]:
        with open(os.path.join(data, spec["stepId"], "_metrics.json"), "w") as f:
            json.dump({m: ns[m] for m in spec["metrics"]}, f)
`;

/** Wait until `predicate` holds (polling), or fail after `ms`. */
export async function waitFor(predicate: () => boolean, ms = 20000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) {
      throw new Error('timed out waiting');
    }
    await new Promise(r => setTimeout(r, 25));
  }
}
