/**
 * `chard run` end to end: the real command, the real step runtime, real numpy/pandas/sklearn.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { IRunRecord } from '../../src/core/runs.js';
import type { IPlan } from '../../src/core/plan.js';
import { isProcessAlive } from '../../src/server/local/processes.js';
import { notebookJson, waitFor } from '../server/local/support.js';
import { chard, events, PYTHON, ROOT, startChard, storedValues, straightRun } from './support.js';

import { jest } from '@jest/globals';

jest.setTimeout(300000);

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'chard-e2e-'));
}

function copyExample(): string {
  const dir = tempDir();
  for (const file of ['churn.ipynb', 'customers.csv']) {
    fs.copyFileSync(path.join(ROOT, 'examples', 'churn', file), path.join(dir, file));
  }
  return path.join(dir, 'churn.ipynb');
}

function runDir(notebook: string, id: string): string {
  return path.join(path.dirname(notebook), '.chard', 'runs', id);
}

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

function writeNb(
  dir: string,
  cells: { tags?: string[]; source: string }[],
  files: Record<string, string> = {}
): string {
  const file = path.join(dir, 'flow.ipynb');
  fs.writeFileSync(file, JSON.stringify(notebookJson(cells), null, 1));
  for (const [name, text] of Object.entries(files)) {
    fs.writeFileSync(path.join(dir, name), text);
  }
  return file;
}

describe('chard run on the churn example', () => {
  it('runs the model steps in parallel and gets exactly what the notebook gives top to bottom', async () => {
    const notebook = copyExample();
    const result = await chard(['run', notebook, '--python', PYTHON, '--parallel', '3', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = events(result.stdout);
    const started = lines.find(e => e.event === 'run-started') as { run: string };
    expect(lines[lines.length - 1]).toMatchObject({ event: 'run-finished', status: 'succeeded' });
    const dir = runDir(notebook, started.run);
    const record = readJson<IRunRecord>(path.join(dir, 'run.json'));
    const plan = readJson<IPlan>(path.join(dir, 'plan.json'));
    expect(record.status).toBe('succeeded');

    // The three model steps overlap in time, pairwise.
    const span = (name: string) => {
      const s = record.steps.find(x => x.name === name)!;
      return [Date.parse(s.startedAt!), Date.parse(s.finishedAt!)];
    };
    const models = ['train_logreg', 'train_forest', 'train_gbm'].map(span);
    for (const a of models) {
      for (const b of models) {
        expect(a[0]).toBeLessThan(b[1]);
      }
    }

    // Every value passed between steps, and every metric, equals the straight execution.
    const values = plan.steps.flatMap(s => s.outputs.map(name => ({ stepId: s.id, name })));
    const metrics = record.steps.flatMap(s => Object.entries(s.metrics));
    expect(values.map(v => v.name).sort()).toEqual(
      [
        'X_test',
        'X_train',
        'customers',
        'feature_names',
        'forest',
        'forest_scores',
        'gbm_scores',
        'logreg_scores',
        'y_test',
        'y_train'
      ].sort()
    );
    expect(metrics.map(m => m[0]).sort()).toEqual([
      'best_auc',
      'forest_auc',
      'gbm_auc',
      'logreg_auc'
    ]);
    const straight = straightRun(notebook, [...values.map(v => v.name), ...metrics.map(m => m[0])]);
    const stored = storedValues(path.join(dir, 'data'), values);
    for (const { name } of values) {
      expect([name, stored[name]]).toEqual([name, straight[name]]);
    }
    for (const [name, value] of metrics) {
      expect([name, `json:${JSON.stringify(value)}`]).toEqual([name, straight[name]]);
    }

    // The run is listed, and its logs are there.
    const runs = await chard(['runs', path.dirname(notebook)]);
    expect(runs.stdout).toMatch(new RegExp(`${started.run}\\s+churn\\s+succeeded`));
    const logs = await chard(['logs', dir, 'evaluate']);
    expect(logs.stdout).toContain('best: logistic regression');
  });
});

describe('chard run', () => {
  it('reports a failing cell on its notebook cell and line, and skips what depends on it', async () => {
    const dir = tempDir();
    const notebook = writeNb(dir, [
      { tags: ['imports'], source: 'import json' },
      { tags: ['step:read'], source: 'config = json.loads(\'{"rate": 0.5}\')' },
      {
        tags: ['step:use', 'prev:read'],
        source: '# look the value up\nrate = config["rate"]\nlimit = config["limit"]'
      },
      { tags: ['step:report', 'prev:use'], source: 'print(rate, limit)' }
    ]);
    const result = await chard(['run', notebook, '--python', PYTHON]);
    expect(result.code).toBe(1);
    const message = 'step "use" failed in cell 2, line 3: KeyError: \'limit\'';
    expect(result.stdout).toContain(message);
    expect(result.stdout).toMatch(/report\s+skipped/);
    const id = /run (\S+) failed/.exec(result.stdout)![1];
    const record = readJson<IRunRecord>(path.join(runDir(notebook, id), 'run.json'));
    expect(record.steps.find(s => s.name === 'use')).toMatchObject({
      status: 'failed',
      cell: 2,
      line: 3
    });
  });

  it('resume re-runs only what failed, reusing the stored values', async () => {
    const dir = tempDir();
    const notebook = writeNb(dir, [
      { tags: ['imports'], source: 'import os\nimport numpy as np' },
      { tags: ['step:make'], source: 'values = np.arange(10.0)' },
      { tags: ['step:side', 'prev:make'], source: 'side_total = float(values.sum())' },
      {
        tags: ['step:scale', 'prev:make'],
        source: 'factor = float(open("factor.txt").read())\nscaled = values * factor'
      },
      {
        tags: ['step:total', 'prev:scale', 'prev:side'],
        source: 'total = float(scaled.sum()) + side_total'
      },
      { tags: ['pipeline-metrics'], source: 'print(total)' }
    ]);
    const first = await chard(['run', notebook, '--python', PYTHON]);
    expect(first.code).toBe(1);
    expect(first.stdout).toContain(
      "FileNotFoundError: [Errno 2] No such file or directory: 'factor.txt'"
    );
    const id = /run (\S+) failed/.exec(first.stdout)![1];
    const before = readJson<IRunRecord>(path.join(runDir(notebook, id), 'run.json'));
    // fix the notebook: the factor becomes a literal
    const nb = readJson<{ cells: { source: string }[] }>(notebook);
    nb.cells[3].source = 'factor = 2.0\nscaled = values * factor';
    fs.writeFileSync(notebook, JSON.stringify(nb));
    const second = await chard(['run', '--resume', id, '--python', PYTHON], dir);
    expect(second.code).toBe(0);
    const after = readJson<IRunRecord>(path.join(runDir(notebook, id), 'run.json'));
    const at = (r: IRunRecord, name: string) => r.steps.find(s => s.name === name)!;
    expect(at(after, 'make').startedAt).toBe(at(before, 'make').startedAt);
    expect(at(after, 'side').startedAt).toBe(at(before, 'side').startedAt);
    expect(at(after, 'scale').startedAt).not.toBe(at(before, 'scale').startedAt);
    expect(at(after, 'total').metrics).toEqual({ total: 135 });
  });

  it('does not see a file changed after the run started; hostile names and values stay data', async () => {
    const dir = tempDir();
    const marker = path.join(dir, 'pwned');
    const hostileStep = `a"; touch ${marker}; echo '`;
    const hostileValue = `x"; import os; os.system("touch ${marker}") #\n---\nkind: Secret\n$(touch ${marker})`;
    const notebook = writeNb(
      dir,
      [
        { tags: ['imports'], source: 'import time' },
        { tags: ['pipeline-parameters'], source: 'NOTE = "plain"' },
        {
          tags: [`step:${hostileStep}`],
          source: 'time.sleep(1.5)\ntext = open("input.txt").read()\necho = NOTE'
        },
        { tags: ['pipeline-metrics'], source: 'print(text)\nprint(echo)' }
      ],
      { 'input.txt': 'original' }
    );
    const child = startChard([
      'run',
      notebook,
      '--python',
      PYTHON,
      '--json',
      '--param',
      `NOTE=${hostileValue}`
    ]);
    let out = '';
    child.stdout.on('data', d => (out += String(d)));
    const exited = new Promise<number | null>(r => child.on('close', code => r(code)));
    await waitFor(() => out.includes('"step-started"'));
    fs.writeFileSync(path.join(dir, 'input.txt'), 'changed');
    expect(await exited).toBe(0);
    const metric = (name: string) =>
      events(out).find(e => e.event === 'metric' && e.name === name)?.value;
    expect(metric('text')).toBe('original');
    expect(metric('echo')).toBe(hostileValue);
    expect(events(out).find(e => e.event === 'step-finished')?.step).toBe(hostileStep);
    expect(fs.existsSync(marker)).toBe(false);
  });

  async function startLongRun(): Promise<{
    child: ReturnType<typeof startChard>;
    id: string;
    pids: number[];
    exited: Promise<number | null>;
    notebook: string;
  }> {
    const dir = tempDir();
    const pidFile = path.join(dir, 'pids.txt');
    const notebook = writeNb(dir, [
      { tags: ['imports'], source: 'import os, subprocess, time' },
      {
        tags: ['step:serve'],
        source:
          'helper = subprocess.Popen(["sleep", "600"])\n' +
          `open(${JSON.stringify(pidFile)}, "w").write("%d %d" % (os.getpid(), helper.pid))\n` +
          'time.sleep(600)\nstate = 1'
      },
      { tags: ['step:other'], source: 'time.sleep(600)\nother = 2' },
      { tags: ['step:after', 'prev:serve', 'prev:other'], source: 'print(state, other)' }
    ]);
    const child = startChard([
      'run',
      notebook,
      '--python',
      PYTHON,
      '--json',
      '--parallel',
      '2',
      '--grace',
      '1'
    ]);
    let out = '';
    child.stdout.on('data', d => (out += String(d)));
    const exited = new Promise<number | null>(r => child.on('close', code => r(code)));
    await waitFor(
      () =>
        fs.existsSync(pidFile) &&
        fs.readFileSync(pidFile, 'utf8').includes(' ') &&
        out.split('"step-started"').length === 3,
      30000
    );
    const id = (events(out)[1] as { run: string }).run;
    const record = readJson<IRunRecord>(path.join(runDir(notebook, id), 'run.json'));
    expect(record.status).toBe('running');
    const stepPids = Object.values(
      readJson<{ steps: Record<string, { pid: number }> }>(
        path.join(runDir(notebook, id), 'pids.json')
      ).steps
    ).map(p => p.pid);
    const pids = [
      ...fs.readFileSync(pidFile, 'utf8').split(' ').map(Number),
      ...stepPids,
      child.pid!
    ];
    expect(pids.every(pid => isProcessAlive(pid))).toBe(true);
    return { child, id, pids: [...new Set(pids)], exited, notebook };
  }

  it('Ctrl-C stops every step process and records the run as cancelled', async () => {
    const { child, id, pids, exited, notebook } = await startLongRun();
    child.kill('SIGINT');
    expect(await exited).toBe(1);
    for (const pid of pids) {
      expect([pid, isProcessAlive(pid)]).toEqual([pid, false]);
    }
    const record = readJson<IRunRecord>(path.join(runDir(notebook, id), 'run.json'));
    expect(record.status).toBe('cancelled');
    expect(record.steps.map(s => s.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    const runs = await chard(['runs'], path.dirname(notebook));
    expect(runs.stdout).toMatch(new RegExp(`${id}\\s+flow\\s+cancelled`));
  });

  it('chard cancel RUN stops the run from another terminal and leaves no process behind', async () => {
    const { id, pids, exited, notebook } = await startLongRun();
    const cancel = await chard(['cancel', id, '--grace', '1'], path.dirname(notebook));
    expect(cancel.stdout.trim()).toBe(`run ${id} cancelled`);
    expect(cancel.code).toBe(0);
    expect(await exited).toBe(1);
    for (const pid of pids) {
      expect([pid, isProcessAlive(pid)]).toEqual([pid, false]);
    }
  });
});
