/**
 * `chard run` end to end: the real command, the real step runtime, real numpy/pandas/sklearn.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { IRichOutput } from '../../src/core/richoutputs.js';
import { RICH_OUTPUTS_FILE } from '../../src/core/richoutputs.js';
import type { IRunRecord } from '../../src/core/runs.js';
import type { IPlan } from '../../src/core/plan.js';
import { isProcessAlive } from '../../src/server/local/processes.js';
import { notebookJson, waitFor } from '../server/local/support.js';
import { chard, events, PYTHON, ROOT, startChard, storedValues, straightRun } from './support.js';
import type { IRunningChard } from './support.js';

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

    // What evaluate showed, as a kernel would send it: its figure (plt.show()) and then the
    // results table (the cell's last value), both from its cell; the other steps showed nothing.
    const evaluate = plan.steps.find(s => s.name === 'evaluate')!;
    const shown = readJson<{ outputs: IRichOutput[] }>(
      path.join(dir, 'data', evaluate.id, RICH_OUTPUTS_FILE)
    ).outputs;
    expect(shown.map(o => [o.output_type, o.cell, Object.keys(o.data).sort()])).toEqual([
      ['display_data', 13, ['image/png', 'text/plain']],
      ['execute_result', 13, ['text/html', 'text/plain']]
    ]);
    expect(
      Buffer.from(shown[0].data['image/png'] as string, 'base64')
        .subarray(1, 4)
        .toString()
    ).toBe('PNG');
    expect(shown[1].data['text/html']).toMatch(/<table[\s\S]*gradient boosting/);
    const load = plan.steps.find(s => s.name === 'load')!;
    expect(fs.existsSync(path.join(dir, 'data', load.id, RICH_OUTPUTS_FILE))).toBe(false);
  });
});

describe('chard run', () => {
  it('passes a class, a function and a closure that steps define to a later step, by value', async () => {
    const dir = tempDir();
    const notebook = path.join(dir, 'step-classes.ipynb');
    fs.copyFileSync(path.join(ROOT, 'tests/fixtures/notebooks/step-classes.ipynb'), notebook);
    const result = await chard(['run', notebook, '--python', PYTHON, '--json']);
    expect(result.code).toBe(0);
    const started = events(result.stdout).find(e => e.event === 'run-started') as { run: string };
    const log = fs.readFileSync(
      path.join(runDir(notebook, started.run), 'logs', 'use.log'),
      'utf8'
    );
    expect(log.split('\n').filter(l => !l.startsWith('chard: '))).toContain('10 110 20 Acc');
  });

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
    // The third cell (index 2) is "cell 3" to the user, as JupyterLab numbers it.
    const message = 'step "use" failed in cell 3, line 3: KeyError: \'limit\'';
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

  it('--value-digest sha256 stores values sha256sum can check; a resumed run reads both schemes', async () => {
    const dir = tempDir();
    const notebook = writeNb(dir, [
      { tags: ['imports'], source: 'import numpy as np' },
      { tags: ['step:make'], source: 'values = np.arange(10.0)\nnames = {"a": [1, 2]}' },
      {
        tags: ['step:scale', 'prev:make'],
        source: 'factor = float(open("factor.txt").read())\nscaled = values * factor'
      },
      { tags: ['step:total', 'prev:scale'], source: 'total = float(scaled.sum()) + len(names)' },
      { tags: ['pipeline-metrics'], source: 'print(total)' }
    ]);
    const first = await chard(['run', notebook, '--python', PYTHON, '--value-digest', 'sha256']);
    expect(first.code).toBe(1);
    const id = /run (\S+) failed/.exec(first.stdout)![1];
    const data = path.join(runDir(notebook, id), 'data');
    const manifest = (step: string, name: string) =>
      readJson<{ hash: string; sha256: string; file: string }>(
        path.join(data, step, name, 'manifest.json')
      );
    for (const name of ['values', 'names']) {
      const m = manifest('make', name);
      expect(m.hash).toBe('sha256');
      const check = spawnSync('sha256sum', ['-c', '-'], {
        cwd: path.join(data, 'make', name),
        input: `${m.sha256}  ${m.file}\n`,
        encoding: 'utf8'
      });
      expect([check.status, check.stdout]).toEqual([0, `${m.file}: OK\n`]);
    }
    // Resumed without the option: scale saves a CRC-32 manifest, total reads both kinds.
    const nb = readJson<{ cells: { source: string }[] }>(notebook);
    nb.cells[2].source = 'factor = 2.0\nscaled = values * factor';
    fs.writeFileSync(notebook, JSON.stringify(nb));
    const second = await chard(['run', '--resume', id, '--python', PYTHON], dir);
    expect(second.code).toBe(0);
    expect(manifest('scale', 'scaled').hash).toBe('crc32-chunks-64MiB');
    const record = readJson<IRunRecord>(path.join(runDir(notebook, id), 'run.json'));
    expect(record.steps.find(s => s.name === 'total')!.metrics).toEqual({ total: 91 });
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
    const run = startChard([
      'run',
      notebook,
      '--python',
      PYTHON,
      '--json',
      '--param',
      `NOTE=${hostileValue}`
    ]);
    await waitFor(() => run.stdout().includes('"step-started"'));
    fs.writeFileSync(path.join(dir, 'input.txt'), 'changed');
    expect(await run.exited).toBe(0);
    const lines = events(run.stdout());
    const metric = (name: string) =>
      lines.find(e => e.event === 'metric' && e.name === name)?.value;
    expect(metric('text')).toBe('original');
    expect(metric('echo')).toBe(hostileValue);
    expect(lines.find(e => e.event === 'step-finished')?.step).toBe(hostileStep);
    expect(fs.existsSync(marker)).toBe(false);
  });

  /**
   * `chard run` of two parallel steps that run for ten minutes, one with a helper process of its
   * own, and a third step after them; returns once both are running, with every process id:
   * the steps', the helper's and the runner's.
   */
  async function startLongRun(): Promise<{
    run: IRunningChard;
    id: string;
    pids: number[];
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
          `open(${JSON.stringify(pidFile)}, "w").write("%d %d %d" % (os.getpid(), helper.pid, os.getppid()))\n` +
          'time.sleep(600)\nstate = 1'
      },
      { tags: ['step:other'], source: 'time.sleep(600)\nother = 2' },
      { tags: ['step:after', 'prev:serve', 'prev:other'], source: 'print(state, other)' }
    ]);
    const run = startChard([
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
    const recordFile = (id: string) => path.join(runDir(notebook, id), 'run.json');
    const started = () => events(run.stdout()).find(e => e.event === 'run-started');
    await waitFor(() => {
      const id = started()?.run;
      return (
        fs.existsSync(pidFile) &&
        fs.readFileSync(pidFile, 'utf8').includes(' ') &&
        typeof id === 'string' &&
        Object.keys(readJson<IRunRecord>(recordFile(id)).pids?.steps ?? {}).length === 2
      );
    }, 30000);
    const id = started()!.run as string;
    const record = readJson<IRunRecord>(recordFile(id));
    expect(record.status).toBe('running');
    // run.json names the runner and the running steps' processes
    expect(record.pids!.runner).toBe(run.child.pid);
    expect(Object.keys(record.pids!.steps).sort()).toEqual(['other', 'serve']);
    const [servePid, helperPid, parentPid] = fs
      .readFileSync(pidFile, 'utf8')
      .split(' ')
      .map(Number);
    expect(record.pids!.steps.serve).toBe(servePid);
    // the steps are forked from the run's preloaded interpreter, which must not outlive the run
    expect(parentPid).not.toBe(run.child.pid);
    const pids = [servePid, helperPid, record.pids!.steps.other, parentPid, run.child.pid!];
    expect(pids.map(pid => [pid, isProcessAlive(pid)])).toEqual(pids.map(pid => [pid, true]));
    return { run, id, pids, notebook };
  }

  it('Ctrl-C stops every step process and records the run as cancelled', async () => {
    const { run, id, pids, notebook } = await startLongRun();
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(1);
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
    const { run, id, pids, notebook } = await startLongRun();
    const cancel = await chard(['cancel', id, '--grace', '1'], path.dirname(notebook));
    expect(cancel.stdout.trim()).toBe(`run ${id} cancelled`);
    expect(cancel.code).toBe(0);
    expect(await run.exited).toBe(1);
    for (const pid of pids) {
      expect([pid, isProcessAlive(pid)]).toEqual([pid, false]);
    }
  });
  it('a runner killed with SIGKILL takes its steps, what they started and its preloaded interpreter with it', async () => {
    const { run, id, pids, notebook } = await startLongRun();
    run.child.kill('SIGKILL');
    await run.exited;
    // the steps, the helper one started, and the runner: all gone within a few seconds
    await waitFor(() => pids.every(pid => !isProcessAlive(pid)), 5000).catch(() => undefined);
    expect(pids.map(pid => [pid, isProcessAlive(pid)])).toEqual(pids.map(pid => [pid, false]));
    // the record still says running: `chard runs` and `chard logs --follow` see it interrupted
    const cwd = path.dirname(notebook);
    expect((await chard(['runs'], cwd)).stdout).toMatch(new RegExp(`${id}\\s+flow\\s+interrupted`));
    const follow = await chard(['logs', id, '--follow'], cwd);
    expect(follow.code).toBe(0);
    expect(follow.stderr).toBe(
      `chard: the runner of run ${id} is gone (interrupted); no more output\n`
    );
  });
});

describe('chard logs', () => {
  it("--follow streams a running run's logs and ends when the run ends", async () => {
    const dir = tempDir();
    const gate = path.join(dir, 'go');
    const notebook = writeNb(dir, [
      { tags: ['imports'], source: 'import os, time' },
      {
        tags: ['step:tick'],
        source:
          'print("tick 1", flush=True)\n' +
          `while not os.path.exists(${JSON.stringify(gate)}):\n    time.sleep(0.05)\n` +
          'print("tick 2 é", flush=True)\nticks = 2'
      },
      { tags: ['step:tock', 'prev:tick'], source: 'print("tock", ticks)' }
    ]);
    const run = startChard(['run', notebook, '--python', PYTHON, '--json']);
    await waitFor(() => run.stdout().includes('tick 1'), 30000);
    const id = events(run.stdout())[1].run as string;
    const cwd = path.dirname(notebook);
    const all = startChard(['logs', id, '--follow'], cwd);
    const one = startChard(['logs', id, 'tick', '-f'], cwd);
    await waitFor(() => all.stdout().includes('tick 1') && one.stdout().includes('tick 1'));
    // the run goes on while they follow it: what comes later streams in
    expect(
      await Promise.race([all.exited, new Promise(r => setTimeout(() => r('following'), 500))])
    ).toBe('following');
    fs.writeFileSync(gate, '');
    expect(await run.exited).toBe(0);
    expect(await all.exited).toBe(0);
    expect(await one.exited).toBe(0);
    // (the runtime's own notes, `chard: saved ...`, are in the logs too)
    const mine = (text: string) => text.split('\n').filter(l => !/^(\w+ \| )?chard: /.test(l));
    expect(mine(all.stdout())).toEqual(['tick | tick 1', 'tick | tick 2 é', 'tock | tock 2', '']);
    expect(mine(one.stdout())).toEqual(['tick 1', 'tick 2 é', '']);
    // after the run, the same command prints everything at once
    expect((await chard(['logs', id, '--follow'], cwd)).stdout).toBe(all.stdout());
  });

  it('chard run refuses bad options before running anything, with exit code 2', async () => {
    const dir = tempDir();
    const notebook = writeNb(dir, [
      { tags: ['pipeline-parameters'], source: 'SEED = 7\nFAST = False' },
      { tags: ['step:only'], source: 'x = SEED' }
    ]);
    const cases: [string[], string][] = [
      [['--param', 'SEED=4.5'], 'chard: --param parameter SEED: "4.5" is not a valid int value\n'],
      [
        ['--param', 'FAST=maybe'],
        'chard: --param parameter FAST: "maybe" is not a valid bool value\n'
      ],
      [
        ['--param', 'NOPE=1'],
        'chard: --param NOPE: the notebook has no such parameter (its parameters: SEED, FAST)\n'
      ],
      [['--run', 'x'], 'chard: --run RUN goes with --from STEP\n'],
      [['--grace', 'soon'], 'chard: --grace soon: give a number of seconds\n'],
      [['--value-digest', 'md5'], 'chard: --value-digest "md5": give sha256 or crc32\n']
    ];
    for (const [options, message] of cases) {
      const result = await chard(['run', notebook, '--python', PYTHON, ...options]);
      expect([options, result.code, result.stderr]).toEqual([options, 2, message]);
    }
    expect(fs.existsSync(path.join(dir, '.chard'))).toBe(false);
  });

  it('runs, logs and cancel print their usage with --help', async () => {
    for (const command of ['runs', 'logs', 'cancel']) {
      const result = await chard([command, '--help']);
      expect([command, result.code, result.stderr]).toEqual([command, 0, '']);
      expect(result.stdout).toMatch(new RegExp(`^usage: chard ${command} `));
    }
    const logs = await chard(['logs', '--help']);
    expect(logs.stdout).toContain('-f, --follow');
    const wrong = await chard(['logs']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('usage: chard logs RUN [STEP] [--follow]');
  });
});
