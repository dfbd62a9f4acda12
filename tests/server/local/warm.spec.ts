/**
 * Warm interpreters kept between runs (src/server/local/warm.ts), with the real step runtime.
 */
import { jest } from '@jest/globals';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { RunEvent } from '../../../src/core/runs.js';
import { isProcessAlive } from '../../../src/server/local/processes.js';
import { runLocal, warmKey } from '../../../src/server/local/runner.js';
import { WarmInterpreters } from '../../../src/server/local/warm.js';
import { PYTHON, waitFor, writeNotebook } from './support.js';

jest.setTimeout(60000);

const pools: WarmInterpreters[] = [];

function pool(options: WarmInterpreters.IOptions = {}): WarmInterpreters {
  const made = new WarmInterpreters(options);
  pools.push(made);
  return made;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map(p => p.close()));
});

function stdout(events: RunEvent[], step: string): string[] {
  return events
    .filter(e => e.event === 'log' && e.stream === 'stdout' && e.step === step)
    .map(e => (e as { line: string }).line);
}

describe('warm interpreters', () => {
  it("serve a notebook's runs from the interpreter warmed before them, each step from a clean state", async () => {
    const { notebook, plan } = writeNotebook([
      { tags: ['imports'], source: 'import json\nimport os' },
      {
        tags: ['step:write'],
        source:
          'print("parent", os.getppid(), "sees", hasattr(json, "leak"))\n' +
          'json.leak = True\n' +
          // Left open: the step's exit still flushes and closes it, as a normal exit does.
          'out = open("note.txt", "w")\nout.write("written")\ndone = 1'
      },
      {
        tags: ['step:read', 'prev:write'],
        source: 'print("read", open("note.txt").read(), done)'
      }
    ]);
    const warm = pool();
    const prepared = await warm.prepare(warmKey({ python: PYTHON, notebook, plan }));
    expect(prepared.ready).toBe(true);
    expect(prepared.preloaded).toEqual(['json', 'os']);
    const [zygote] = warm.pids;

    for (let run = 0; run < 2; run++) {
      const events: RunEvent[] = [];
      const result = await runLocal({
        plan,
        notebook,
        python: PYTHON,
        interpreters: warm,
        onEvent: e => events.push(e)
      });
      expect(result.record.status).toBe('succeeded');
      expect(result.forked).toEqual(['write', 'read']);
      // Forked from the warm interpreter, which saw nothing of the earlier run's steps.
      expect(stdout(events, 'write')).toEqual([`parent ${zygote} sees False`]);
      expect(stdout(events, 'read')).toEqual(['read written 1']);
      expect(events.some(e => e.event === 'progress' && /warm interpreter/.test(e.message))).toBe(
        true
      );
    }
    // Still there for the next run.
    expect(warm.pids).toEqual([zygote]);
    expect(isProcessAlive(zygote)).toBe(true);
  });

  it('replace the interpreter when the imports change, and end the one replaced', async () => {
    const first = writeNotebook([
      { tags: ['imports'], source: 'import json' },
      { tags: ['step:a'], source: 'x = 1' }
    ]);
    const warm = pool();
    await warm.prepare(warmKey({ python: PYTHON, notebook: first.notebook, plan: first.plan }));
    const [old] = warm.pids;
    await warm.prepare(warmKey({ python: PYTHON, notebook: first.notebook, plan: first.plan }));
    expect(warm.pids).toEqual([old]);

    const edited = writeNotebook([
      { tags: ['imports'], source: 'import json\nimport csv' },
      { tags: ['step:a'], source: 'x = 1' }
    ]);
    const again = await warm.prepare(
      warmKey({ python: PYTHON, notebook: first.notebook, plan: edited.plan })
    );
    expect(again.preloaded).toEqual(['json', 'csv']);
    expect(warm.pids).not.toContain(old);
    await waitFor(() => !isProcessAlive(old));
  });

  it('replace the interpreter when a package it preloaded changed on disk', async () => {
    const { dir, notebook, plan } = writeNotebook([
      { tags: ['imports'], source: 'import chardprobe' },
      { tags: ['step:a'], source: 'x = chardprobe.VERSION' }
    ]);
    const site = fs.mkdtempSync(path.join(path.dirname(dir), 'chard-site-'));
    const module = path.join(site, 'chardprobe.py');
    fs.writeFileSync(module, 'VERSION = 1\n');
    const key = warmKey({ python: PYTHON, notebook, plan, env: { PYTHONPATH: site } });
    const warm = pool();
    expect((await warm.prepare(key)).preloaded).toEqual(['chardprobe']);
    const [old] = warm.pids;

    fs.writeFileSync(module, 'VERSION = 2\n');
    fs.utimesSync(module, new Date(), new Date(Date.now() + 5000));
    await warm.prepare(key);
    expect(warm.pids).not.toContain(old);
    await waitFor(() => !isProcessAlive(old));
  });

  it('end an interpreter left idle, and every one on close', async () => {
    const a = writeNotebook([
      { tags: ['imports'], source: 'import json' },
      { tags: ['step:a'], source: 'x = 1' }
    ]);
    const b = writeNotebook([
      { tags: ['imports'], source: 'import json' },
      { tags: ['step:b'], source: 'y = 1' }
    ]);
    const idle = pool({ idleMs: 100 });
    await idle.prepare(warmKey({ python: PYTHON, notebook: a.notebook, plan: a.plan }));
    const [first] = idle.pids;
    await waitFor(() => !isProcessAlive(first));
    expect(idle.pids).toEqual([]);

    const kept = pool();
    await kept.prepare(warmKey({ python: PYTHON, notebook: a.notebook, plan: a.plan }));
    await kept.prepare(warmKey({ python: PYTHON, notebook: b.notebook, plan: b.plan }));
    const both = kept.pids;
    expect(both).toHaveLength(2);
    await kept.close();
    expect(both.some(pid => isProcessAlive(pid))).toBe(false);
  });
});
