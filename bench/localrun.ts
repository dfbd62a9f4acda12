/**
 * The local runner's cost. Prints:
 * - per-step overhead of `chard run` on a 20-step notebook whose steps do trivial work (a chain
 *   passing one small value along, --parallel 1), above a bare `python3 -c pass` start-up
 *   (target <= 150 ms);
 * - the churn example's `chard run` wall time next to straight top-to-bottom execution of the
 *   same notebook with nbclient, measured in the same run (target <= 1.2x), and, for comparison,
 *   `chard run` starting every step as a fresh process (no preloaded interpreter).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { analyzeNotebook } from '../src/core/analyze.js';
import { readNotebook } from '../src/core/notebook.js';
import { runLocal } from '../src/server/local/runner.js';

const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function bareStart(): number {
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const start = process.hrtime.bigint();
    spawnSync(PYTHON, ['-c', 'pass']);
    times.push(ms(start));
  }
  return median(times);
}

function chainNotebook(steps: number): unknown {
  const cells = [{ tags: ['pipeline-parameters'], source: 'START = 1' }];
  cells.push({ tags: ['step:step_0'], source: 'value_0 = START' });
  for (let i = 1; i < steps; i++) {
    cells.push({ tags: [`step:step_${i}`], source: `value_${i} = value_${i - 1} + 1` });
  }
  cells.push({ tags: ['pipeline-metrics'], source: `print(value_${steps - 1})` });
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'python3', language: 'python' } },
    cells: cells.map(c => ({
      cell_type: 'code',
      metadata: { tags: c.tags },
      source: c.source,
      outputs: []
    }))
  };
}

async function timeRun(
  notebookFile: string,
  parallel: number,
  preload = true
): Promise<{ ms: number; status: string; forked: number }> {
  const json: unknown = JSON.parse(fs.readFileSync(notebookFile, 'utf8'));
  const plan = analyzeNotebook(readNotebook(json, notebookFile), {
    fileName: path.basename(notebookFile)
  });
  const start = process.hrtime.bigint();
  const result = await runLocal({
    plan,
    notebook: notebookFile,
    python: PYTHON,
    parallel,
    preload
  });
  return { ms: ms(start), status: result.record.status, forked: result.forked.length };
}

function straightRun(notebookFile: string): number {
  const script =
    'import sys, nbformat\nfrom nbclient import NotebookClient\n' +
    'nb = nbformat.read(sys.argv[1], as_version=4)\n' +
    'NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()\n';
  const start = process.hrtime.bigint();
  const result = spawnSync(PYTHON, ['-c', script, notebookFile, path.dirname(notebookFile)], {
    encoding: 'utf8'
  });
  if (result.status !== 0) {
    throw new Error(`nbclient failed: ${result.stderr.trim().split('\n').pop() ?? ''}`);
  }
  return ms(start);
}

export async function run(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-bench-'));
  try {
    // 1. Per-step overhead.
    const steps = 20;
    const chain = path.join(dir, 'chain', 'chain.ipynb');
    fs.mkdirSync(path.dirname(chain));
    fs.writeFileSync(chain, JSON.stringify(chainNotebook(steps)));
    const bare = bareStart();
    await timeRun(chain, 1); // warm the OS caches and the snapshot store
    const runs: number[] = [];
    for (let i = 0; i < 3; i++) {
      runs.push((await timeRun(chain, 1)).ms);
    }
    const total = median(runs);
    const overhead = total / steps - bare;
    console.log(`python: ${PYTHON}`);
    console.log(`bare "python3 -c pass" start-up:      ${bare.toFixed(1)} ms`);
    console.log(
      `20-step trivial chain, chard run:     ${total.toFixed(0)} ms (${(total / steps).toFixed(1)} ms per step, --parallel 1)`
    );
    console.log(
      `per-step overhead above bare start-up: ${overhead.toFixed(1)} ms (target <= 150 ms) ${overhead <= 150 ? 'OK' : 'MISSED'}`
    );

    // 2. The example, as a pipeline and straight.
    const example = path.join(dir, 'churn', 'churn.ipynb');
    fs.mkdirSync(path.dirname(example));
    for (const file of ['churn.ipynb', 'customers.csv']) {
      fs.copyFileSync(
        path.join(process.cwd(), 'examples', 'churn', file),
        path.join(dir, 'churn', file)
      );
    }
    const straight = straightRun(example);
    const piped = await timeRun(example, os.availableParallelism());
    const fresh = await timeRun(example, os.availableParallelism(), false);
    const ratio = piped.ms / straight;
    console.log(`churn example, straight (nbclient):   ${(straight / 1000).toFixed(2)} s`);
    console.log(
      `churn example, chard run (${piped.status}):  ${(piped.ms / 1000).toFixed(2)} s (--parallel ${os.availableParallelism()}, ${piped.forked} steps forked from the preloaded interpreter)`
    );
    console.log(
      `  the same without preloading (${fresh.status}): ${(fresh.ms / 1000).toFixed(2)} s (${(fresh.ms / straight).toFixed(2)}x)`
    );
    console.log(
      `ratio chard run / straight:           ${ratio.toFixed(2)}x (target <= 1.2x) ${ratio <= 1.2 ? 'OK' : 'MISSED'}`
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
