import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { IRunRecord, RunEvent } from '../../../src/core/runs.js';
import { isProcessAlive } from '../../../src/server/local/processes.js';
import { readRunRecord, runPaths } from '../../../src/server/common/records.js';
import { runLocal } from '../../../src/server/local/runner.js';
import { FAKE_RUNTIME, PYTHON, waitFor, writeNotebook } from './support.js';

/** load -> (left | right) -> join: the shape of most real notebooks with parallel models. */
function diamond(options: { leftCode?: string; sleep?: number } = {}) {
  const sleep = options.sleep ?? 0.6;
  return writeNotebook(
    [
      { tags: ['imports'], source: 'import time\nimport os' },
      { tags: ['pipeline-parameters'], source: 'SCALE = 3\nLABEL = "run"' },
      { tags: ['step:load'], source: 'rows = [int(x) for x in open("data.txt").read().split()]' },
      {
        tags: ['step:left', 'prev:load'],
        source: options.leftCode ?? `time.sleep(${sleep})\nleft_total = sum(rows) * SCALE`
      },
      { tags: ['step:right', 'prev:load'], source: `time.sleep(${sleep})\nright_max = max(rows)` },
      {
        tags: ['step:join', 'prev:left', 'prev:right'],
        source: 'answer = left_total + right_max\nsummary = LABEL + ":" + str(answer)'
      },
      { tags: ['pipeline-metrics'], source: 'print(answer)\nprint(summary)' }
    ],
    { 'data.txt': '1 2 3 4\n' }
  );
}

/** The diamond whose `left` step fails until the returned flag file exists. */
function diamondFailingUntilFlag() {
  const flag = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chard-flag-')), 'ready');
  const leftCode =
    `if not os.path.exists(${JSON.stringify(flag)}):\n` +
    '    raise RuntimeError("input not ready")\n' +
    'left_total = sum(rows) * SCALE';
  return { flag, ...diamond({ leftCode }) };
}

describe('runLocal', () => {
  it('runs independent steps at the same time and passes values along the DAG', async () => {
    const { notebook, plan } = diamond();
    const events: RunEvent[] = [];
    const result = await runLocal({
      plan,
      notebook,
      python: PYTHON,
      parallel: 4,
      runtimeSource: FAKE_RUNTIME,
      onEvent: e => events.push(e)
    });
    expect(result.record.status).toBe('succeeded');
    const step = (name: string) => result.record.steps.find(s => s.name === name)!;
    const left = step('left');
    const right = step('right');
    // overlap: each started before the other finished
    expect(Date.parse(left.startedAt!)).toBeLessThan(Date.parse(right.finishedAt!));
    expect(Date.parse(right.startedAt!)).toBeLessThan(Date.parse(left.finishedAt!));
    // order: join after both
    expect(Date.parse(step('join').startedAt!)).toBeGreaterThanOrEqual(
      Date.parse(left.finishedAt!)
    );
    expect(step('join').metrics).toEqual({ answer: 34, summary: 'run:34' });
    // the record on disk is the same and complete
    const onDisk = await readRunRecord(result.dir);
    expect(onDisk.status).toBe('succeeded');
    expect(onDisk.steps.map(s => s.status)).toEqual([
      'succeeded',
      'succeeded',
      'succeeded',
      'succeeded'
    ]);
    expect(events[0].event).toBe('progress');
    expect(events.some(e => e.event === 'run-started')).toBe(true);
    expect(events[events.length - 1]).toMatchObject({ event: 'run-finished', status: 'succeeded' });
    expect(events).toContainEqual(
      expect.objectContaining({ event: 'metric', step: 'join', name: 'answer', value: 34 })
    );
  });

  it('says each time a running step shows something new, so the monitor shows it as it comes', async () => {
    const { notebook, plan } = writeNotebook([
      {
        tags: ['step:show'],
        source: 'import time\ndisplay("first")\ntime.sleep(2.5)\ndisplay("second")\ntime.sleep(1.5)'
      },
      { tags: ['step:quiet', 'prev:show'], source: 'x = 1' }
    ]);
    const seen: { event: string; step?: string; shown?: string[] }[] = [];
    let file = '';
    const result = await runLocal({
      plan,
      notebook,
      python: PYTHON,
      onEvent: e => {
        if (e.event === 'run-started') {
          const dir = path.join(path.dirname(notebook), '.chard', 'runs', e.run);
          file = path.join(runPaths(dir).data, 'show', '_outputs.json');
        }
        if (e.event === 'step-outputs') {
          // What the monitor reads when this event reaches it.
          const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as {
            outputs: { data: { 'text/plain': string } }[];
          };
          seen.push({
            event: e.event,
            step: e.step,
            shown: doc.outputs.map(o => o.data['text/plain'])
          });
        } else if (e.event === 'step-started' || e.event === 'step-finished') {
          seen.push({ event: e.event, step: e.step });
        }
      }
    });
    expect(result.record.status).toBe('succeeded');
    const show = seen.filter(e => e.step === 'show');
    expect(show[0]).toEqual({ event: 'step-started', step: 'show' });
    expect(show[show.length - 1]).toEqual({ event: 'step-finished', step: 'show' });
    const outputs = show.filter(e => e.event === 'step-outputs').map(e => e.shown);
    expect(outputs[0]).toEqual(["'first'"]);
    expect(outputs[outputs.length - 1]).toEqual(["'first'", "'second'"]);
    expect(seen.filter(e => e.step === 'quiet').map(e => e.event)).toEqual([
      'step-started',
      'step-finished'
    ]);
  });

  it('with --parallel 1 never runs two steps at once', async () => {
    const { notebook, plan } = diamond({ sleep: 0.2 });
    const result = await runLocal({
      plan,
      notebook,
      python: PYTHON,
      parallel: 1,
      runtimeSource: FAKE_RUNTIME
    });
    const spans = result.record.steps
      .map(s => [Date.parse(s.startedAt!), Date.parse(s.finishedAt!)] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) {
      expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
    }
  });

  it('reports a failing cell by step, cell and line, skips its descendants, finishes the rest', async () => {
    const { notebook, plan } = diamond({
      leftCode: 'total = sum(rows)\nleft_total = total / (len(rows) - 4)'
    });
    const result = await runLocal({ plan, notebook, python: PYTHON, runtimeSource: FAKE_RUNTIME });
    expect(result.record.status).toBe('failed');
    const byName = Object.fromEntries(result.record.steps.map(s => [s.name, s]));
    expect(byName.left).toMatchObject({ status: 'failed', cell: 3, line: 2, exitCode: 1 });
    expect(byName.left.message).toBe(
      // Cell index 3 in the record, "cell 4" to the user (numbered from 1 as JupyterLab does).
      'step "left" failed in cell 4, line 2: ZeroDivisionError: division by zero'
    );
    expect(byName.right.status).toBe('succeeded');
    expect(byName.join.status).toBe('skipped');
    expect(result.record.message).toBe(byName.left.message);
    const log = fs.readFileSync(
      path.join(runPaths(result.dir).logs, `${byName.left.id}.log`),
      'utf8'
    );
    expect(log).toContain('ZeroDivisionError');
  });

  it('resume re-runs only the failed and skipped steps, reusing stored values', async () => {
    const { flag, notebook, plan } = diamondFailingUntilFlag();
    const first = await runLocal({ plan, notebook, python: PYTHON, runtimeSource: FAKE_RUNTIME });
    expect(first.record.status).toBe('failed');
    const before = Object.fromEntries(first.record.steps.map(s => [s.name, s]));
    fs.writeFileSync(flag, '');
    const second = await runLocal({
      plan,
      notebook,
      python: PYTHON,
      runtimeSource: FAKE_RUNTIME,
      resume: first.dir
    });
    expect(second.dir).toBe(first.dir);
    expect(second.record.status).toBe('succeeded');
    expect(second.reused.sort()).toEqual(['load', 'right']);
    const after = Object.fromEntries(second.record.steps.map(s => [s.name, s]));
    // load and right did not run again: same times as before
    expect(after.load.startedAt).toBe(before.load.startedAt);
    expect(after.right.startedAt).toBe(before.right.startedAt);
    expect(after.left.startedAt).not.toBe(before.left.startedAt);
    expect(after.join.metrics).toEqual({ answer: 34, summary: 'run:34' });
  });

  it('resume runs a producer again when a value it stored is cut short (a crash before writeback)', async () => {
    const { flag, notebook, plan } = diamondFailingUntilFlag();
    const first = await runLocal({ plan, notebook, python: PYTHON, runtimeSource: FAKE_RUNTIME });
    expect(first.record.status).toBe('failed');
    const right = plan.steps.find(s => s.name === 'right')!;
    const valueFile = path.join(runPaths(first.dir).data, right.id, right.outputs[0], 'value.pkl');
    fs.truncateSync(valueFile, 1);
    fs.writeFileSync(flag, '');
    const second = await runLocal({
      plan,
      notebook,
      python: PYTHON,
      runtimeSource: FAKE_RUNTIME,
      resume: first.dir
    });
    expect(second.record.status).toBe('succeeded');
    expect(second.reused).toEqual(['load']);
    expect(second.record.steps.find(s => s.name === 'join')!.metrics).toEqual({
      answer: 34,
      summary: 'run:34'
    });
  });

  it('resume runs the re-run steps with the parameter values of the run it resumes', async () => {
    const { flag, notebook, plan } = diamondFailingUntilFlag();
    const first = await runLocal({
      plan,
      notebook,
      python: PYTHON,
      runtimeSource: FAKE_RUNTIME,
      parameters: { SCALE: 5 }
    });
    expect(first.record.status).toBe('failed');
    fs.writeFileSync(flag, '');
    const second = await runLocal({
      plan,
      notebook,
      python: PYTHON,
      runtimeSource: FAKE_RUNTIME,
      resume: first.dir
    });
    expect(second.record.parameters).toEqual({ SCALE: 5, LABEL: 'run' });
    // 10 * 5 + 4, not the default SCALE of 3
    expect(second.record.steps.find(s => s.name === 'join')!.metrics.answer).toBe(54);
  });

  it('--from re-runs a step and its descendants in a new run, reusing the rest', async () => {
    const { notebook, plan } = diamond({ sleep: 0 });
    const first = await runLocal({ plan, notebook, python: PYTHON, runtimeSource: FAKE_RUNTIME });
    const second = await runLocal({
      plan,
      notebook,
      python: PYTHON,
      runtimeSource: FAKE_RUNTIME,
      parameters: { LABEL: 'again' },
      from: { step: 'right', run: first.dir }
    });
    expect(second.dir).not.toBe(first.dir);
    expect(second.reused.sort()).toEqual(['left', 'load']);
    const join = second.record.steps.find(s => s.name === 'join')!;
    expect(join.metrics).toEqual({ answer: 34, summary: 'again:34' });
    const load = second.record.steps.find(s => s.name === 'load')!;
    expect(load.message).toBe(`reused from run ${first.record.id}`);
  });

  it('cancellation stops every step process group, grandchildren included, and records it', async () => {
    const pidFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chard-pids-')), 'pids');
    const { notebook, plan } = writeNotebook([
      { tags: ['imports'], source: 'import os, subprocess, time' },
      {
        tags: ['step:work'],
        source:
          'child = subprocess.Popen(["sleep", "300"])\n' +
          `open(${JSON.stringify(pidFile)}, "w").write("%d %d" % (os.getpid(), child.pid))\n` +
          'time.sleep(300)\nresult = 1'
      },
      { tags: ['step:after', 'prev:work'], source: 'print(result)' }
    ]);
    const controller = new AbortController();
    const started = Date.now();
    const running = runLocal({
      plan,
      notebook,
      python: PYTHON,
      runtimeSource: FAKE_RUNTIME,
      signal: controller.signal,
      graceMs: 1000
    });
    await waitFor(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').includes(' '));
    const pids = fs.readFileSync(pidFile, 'utf8').split(' ').map(Number);
    expect(pids.every(pid => isProcessAlive(pid))).toBe(true);
    // run.json names the runner (this process) and the running step's process
    const [runDir] = fs.readdirSync(path.join(path.dirname(notebook), '.chard', 'runs'));
    const recordFile = path.join(path.dirname(notebook), '.chard', 'runs', runDir, 'run.json');
    await waitFor(
      () =>
        (JSON.parse(fs.readFileSync(recordFile, 'utf8')) as IRunRecord).pids?.steps.work !==
        undefined
    );
    expect((JSON.parse(fs.readFileSync(recordFile, 'utf8')) as IRunRecord).pids).toEqual({
      runner: process.pid,
      steps: { work: pids[0] }
    });
    controller.abort();
    const result = await running;
    expect(Date.now() - started).toBeLessThan(15000);
    expect(result.record.status).toBe('cancelled');
    expect(result.record.steps.map(s => s.status)).toEqual(['cancelled', 'cancelled']);
    for (const pid of pids) {
      expect(isProcessAlive(pid)).toBe(false);
    }
    const onDisk = await readRunRecord(result.dir);
    expect(onDisk.status).toBe('cancelled');
    expect(onDisk.pids).toEqual({ runner: process.pid, steps: {} });
  });

  it('runs against the snapshot: a file changed after the run starts is not seen', async () => {
    const { dir, notebook, plan } = diamond({ sleep: 0.1 });
    const result = await runLocal({
      plan,
      notebook,
      python: PYTHON,
      runtimeSource: FAKE_RUNTIME,
      onEvent: e => {
        if (e.event === 'run-started') {
          fs.writeFileSync(path.join(dir, 'data.txt'), '100 200\n');
        }
      }
    });
    expect(result.record.steps.find(s => s.name === 'join')!.metrics.answer).toBe(34);
    expect(fs.readFileSync(path.join(dir, 'data.txt'), 'utf8')).toBe('100 200\n');
  });

  it('treats a hostile step name and parameter value as inert data', async () => {
    const marker = path.join(os.tmpdir(), `chard-pwned-${process.pid}`);
    const name = `a"; touch ${marker}; echo '`;
    const hostile = `x"; __import__("os").system("touch ${marker}") #\n---\nkind: Secret\n$(touch ${marker})`;
    const { notebook, plan } = writeNotebook([
      { tags: ['pipeline-parameters'], source: 'NOTE = "plain"' },
      { tags: [`step:${name}`], source: 'echo = NOTE' },
      { tags: ['pipeline-metrics'], source: 'print(echo)' }
    ]);
    const result = await runLocal({
      plan,
      notebook,
      python: PYTHON,
      runtimeSource: FAKE_RUNTIME,
      parameters: { NOTE: hostile }
    });
    expect(result.record.status).toBe('succeeded');
    expect(result.record.steps[0].name).toBe(name);
    expect(result.record.steps[0].metrics.echo).toBe(hostile);
    expect(result.record.parameters.NOTE).toBe(hostile);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('saves values with the digest the caller or else the notebook asks for', async () => {
    const cells = [
      { tags: ['imports'], source: 'import numpy as np' },
      { tags: ['step:make'], source: 'arr = np.arange(5.0)\nd = {"k": 1}' },
      { tags: ['step:use'], source: 'total = float(arr.sum()) + d["k"]' },
      { tags: ['pipeline-metrics'], source: 'print(total)' }
    ];
    const { notebook, plan } = writeNotebook(cells, {}, 'flow.ipynb', {
      chard: { valueDigest: 'sha256' }
    });
    /** The producer's manifests: value name -> [hash, whether sha256 is the file's sha256]. */
    const manifests = async (valueDigest?: 'crc32' | 'sha256') => {
      const result = await runLocal({
        plan,
        notebook,
        python: PYTHON,
        ...(valueDigest ? { valueDigest } : {})
      });
      expect(result.record.steps.map(s => [s.name, s.status, s.metrics])).toEqual([
        ['make', 'succeeded', {}],
        ['use', 'succeeded', { total: 11 }]
      ]);
      const dir = path.join(runPaths(result.dir).data, 'make');
      return Object.fromEntries(
        ['arr', 'd'].map(name => {
          const m = JSON.parse(fs.readFileSync(path.join(dir, name, 'manifest.json'), 'utf8'));
          const file = fs.readFileSync(path.join(dir, name, m.file));
          const sha = crypto.createHash('sha256').update(file).digest('hex');
          return [name, [m.hash, m.sha256 === sha]];
        })
      );
    };
    expect(await manifests()).toEqual({ arr: ['sha256', true], d: ['sha256', true] });
    expect(await manifests('crc32')).toEqual({
      arr: ['crc32-chunks-64MiB', false],
      d: ['crc32-chunks-64MiB', false]
    });
    const bad = writeNotebook(cells, {}, 'flow.ipynb', { chard: { valueDigest: 'md5' } });
    await expect(
      runLocal({ plan: bad.plan, notebook: bad.notebook, python: PYTHON })
    ).rejects.toThrow(
      'the notebook has errors: notebook metadata `chard.valueDigest` must be one of crc32, sha256, not "md5"'
    );
    expect(fs.existsSync(path.join(bad.dir, '.chard'))).toBe(false);
  });

  it('refuses an unknown parameter before anything runs', async () => {
    const { notebook, plan } = diamond();
    await expect(
      runLocal({
        plan,
        notebook,
        python: PYTHON,
        runtimeSource: FAKE_RUNTIME,
        parameters: { NOPE: 1 }
      })
    ).rejects.toThrow('unknown parameter "NOPE" (the notebook\'s parameters: SCALE, LABEL)');
  });
});
