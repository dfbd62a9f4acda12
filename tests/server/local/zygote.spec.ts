/**
 * Steps forked from the run's preloaded interpreter (src/server/local/zygote.ts), with the real
 * step runtime and Debian's numpy.
 */
import { jest } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { RunEvent } from '../../../src/core/runs.js';
import { isProcessAlive } from '../../../src/server/local/processes.js';
import { runLocal } from '../../../src/server/local/runner.js';
import { PYTHON, waitFor, writeNotebook } from './support.js';

jest.setTimeout(60000);

/** stdout lines by step. */
function stdoutOf(events: RunEvent[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const e of events) {
    if (e.event === 'log' && e.stream === 'stdout') {
      out.set(e.step, [...(out.get(e.step) ?? []), e.line]);
    }
  }
  return out;
}

/** Process group and session of a live process (fields 5 and 6 of /proc/PID/stat). */
function groupAndSession(pid: number): [number, number] {
  const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return [Number(fields[2]), Number(fields[3])];
}

describe('steps forked from the preloaded interpreter', () => {
  it('start every step from the same clean state: no globals, module changes or random draws shared', async () => {
    const { notebook, plan } = writeNotebook([
      { tags: ['imports'], source: 'import json\nimport os\nimport numpy as np' },
      {
        tags: ['step:first'],
        source:
          'json.leak = "first"\nsecret = 41\n' +
          'print("first", os.getppid(), float(np.random.rand()))\ncount = 1'
      },
      {
        tags: ['step:second', 'prev:first'],
        source:
          'print("second", os.getppid(), float(np.random.rand()))\n' +
          'print("sees", hasattr(json, "leak"), "secret" in globals())\ntotal = count + 1'
      }
    ]);
    const events: RunEvent[] = [];
    const result = await runLocal({
      plan,
      notebook,
      python: PYTHON,
      onEvent: e => events.push(e)
    });
    expect(result.record.status).toBe('succeeded');
    expect(result.forked).toEqual(['first', 'second']);
    const out = stdoutOf(events);
    const [, firstParent, firstDraw] = out.get('first')![0].split(' ');
    const [, secondParent, secondDraw] = out.get('second')![0].split(' ');
    // Both are children of the one preloaded interpreter, not of the runner.
    expect(firstParent).toBe(secondParent);
    expect(Number(firstParent)).not.toBe(process.pid);
    expect(out.get('second')![1]).toBe('sees False False');
    // numpy's global random state is fresh in each step, as in a new process.
    expect(firstDraw).not.toBe(secondDraw);
    expect(result.warnings).toEqual([]);
  });

  it('preloads the installed modules imported before any other statement, once for all steps', async () => {
    const site = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-site-'));
    const imports = path.join(site, 'imports.log');
    // `counted` notes every interpreter that imports it; `probe` reads the environment.
    fs.writeFileSync(
      path.join(site, 'counted.py'),
      `import os\nwith open(${JSON.stringify(imports)}, "a") as f:\n    f.write("%d\\n" % os.getpid())\n`
    );
    fs.writeFileSync(
      path.join(site, 'probe.py'),
      'import os\nSEEN = os.environ.get("PROBE_FLAG")\n'
    );
    const { notebook, plan } = writeNotebook([
      {
        tags: ['imports'],
        source: 'import os\nimport counted\nos.environ["PROBE_FLAG"] = "set"\nimport probe'
      },
      { tags: ['step:first'], source: 'print(probe.SEEN)\na = 1' },
      { tags: ['step:second'], source: 'print(probe.SEEN)\nb = 2' }
    ]);
    const events: RunEvent[] = [];
    const result = await runLocal({
      plan,
      notebook,
      python: PYTHON,
      env: { PYTHONPATH: site },
      onEvent: e => events.push(e)
    });
    expect(result.record.status).toBe('succeeded');
    expect(result.forked.sort()).toEqual(['first', 'second']);
    // imported once, by the preloaded interpreter (a fresh process per step imports it twice)
    expect(fs.readFileSync(imports, 'utf8').trim().split('\n')).toHaveLength(1);
    // `probe` comes after a statement that is not an import: each step imports it itself
    const out = stdoutOf(events);
    expect([out.get('first'), out.get('second')]).toEqual([['set'], ['set']]);
  });

  it('falls back to a fresh process per step when the preloaded interpreter cannot start', async () => {
    // An installed module that kills any interpreter importing it outside a step.
    const site = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-site-'));
    fs.writeFileSync(
      path.join(site, 'fragile.py'),
      'import os\nif "CHARD_STEP" not in os.environ:\n    os._exit(3)\nVALUE = 7\n'
    );
    const { notebook, plan } = writeNotebook([
      { tags: ['imports'], source: 'import os\nimport fragile' },
      { tags: ['step:only'], source: 'print("parent", os.getppid())\nvalue = fragile.VALUE' },
      { tags: ['pipeline-metrics'], source: 'print(value)' }
    ]);
    const events: RunEvent[] = [];
    const result = await runLocal({
      plan,
      notebook,
      python: PYTHON,
      env: { PYTHONPATH: site },
      onEvent: e => events.push(e)
    });
    expect(result.record.status).toBe('succeeded');
    expect(result.record.steps[0].metrics).toEqual({ value: 7 });
    expect(result.forked).toEqual([]);
    expect(stdoutOf(events).get('only')).toEqual([`parent ${process.pid}`]);
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(
      /^steps started without preloading: the preloaded interpreter ended \(exit code 3\)/
    );
  });

  it('cancellation stops a forked step, which leads its own group, and what it started', async () => {
    const pidFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chard-pids-')), 'pids');
    const { notebook, plan } = writeNotebook([
      { tags: ['imports'], source: 'import os, subprocess, time\nimport numpy' },
      {
        tags: ['step:work'],
        source:
          'child = subprocess.Popen(["sleep", "300"])\n' +
          `open(${JSON.stringify(pidFile)}, "w").write("%d %d %d" % (os.getpid(), child.pid, os.getppid()))\n` +
          'time.sleep(300)\nresult = 1'
      },
      { tags: ['step:after', 'prev:work'], source: 'print(result)' }
    ]);
    const controller = new AbortController();
    const running = runLocal({
      plan,
      notebook,
      python: PYTHON,
      signal: controller.signal,
      graceMs: 1000
    });
    await waitFor(
      () => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').split(' ').length === 3
    );
    const [step, grandchild, zygote] = fs.readFileSync(pidFile, 'utf8').split(' ').map(Number);
    expect(zygote).not.toBe(process.pid);
    expect(groupAndSession(step)).toEqual([step, step]);
    expect(groupAndSession(grandchild)[0]).toBe(step);
    expect(groupAndSession(zygote)[0]).not.toBe(step);
    controller.abort();
    const result = await running;
    expect(result.record.status).toBe('cancelled');
    expect(result.forked).toEqual(['work']);
    expect(result.record.steps.map(s => s.status)).toEqual(['cancelled', 'cancelled']);
    for (const pid of [step, grandchild, zygote]) {
      expect(isProcessAlive(pid)).toBe(false);
    }
  });

  it('a killed preloaded interpreter takes its running step with it; later steps start fresh', async () => {
    const pidFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chard-pids-')), 'pids');
    const { notebook, plan } = writeNotebook([
      { tags: ['imports'], source: 'import os, subprocess, time' },
      {
        tags: ['step:doomed'],
        source:
          'child = subprocess.Popen(["sleep", "300"])\n' +
          `open(${JSON.stringify(pidFile)}, "w").write("%d %d %d" % (os.getpid(), child.pid, os.getppid()))\n` +
          'time.sleep(300)\nresult = 1'
      },
      { tags: ['step:independent'], source: 'print("parent", os.getppid())\nother = 2' }
    ]);
    const events: RunEvent[] = [];
    const running = runLocal({
      plan,
      notebook,
      python: PYTHON,
      parallel: 1,
      onEvent: e => events.push(e)
    });
    await waitFor(
      () => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').split(' ').length === 3
    );
    const [step, grandchild, zygote] = fs.readFileSync(pidFile, 'utf8').split(' ').map(Number);
    process.kill(zygote, 'SIGKILL');
    const result = await running;
    const [doomed, independent] = result.record.steps;
    expect(doomed.status).toBe('failed');
    expect(doomed.message).toBe(
      'step "doomed" failed: the preloaded interpreter it was forked from ended'
    );
    for (const pid of [step, grandchild, zygote]) {
      expect(isProcessAlive(pid)).toBe(false);
    }
    expect(independent.status).toBe('succeeded');
    expect(stdoutOf(events).get('independent')).toEqual([`parent ${process.pid}`]);
    expect(result.forked).toEqual(['doomed']);
    expect(result.warnings).toEqual([
      'steps started without preloading: the preloaded interpreter ended (SIGKILL)'
    ]);
  });
});
