/**
 * End to end without a cluster: the test notebooks are analysed (analyzeNotebook), each step's
 * spec is built (buildStepSpec) and every step runs, in plan order, through the runtime with
 * Debian's Python, handing values from step to step through the data dir.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeNotebook } from '../../src/core/analyze.js';
import { isCompilable } from '../../src/core/plan.js';
import { buildStepSpec } from '../../src/core/stepspec.js';
import { loadNotebook } from '../core/fixtures.js';
import { Scratch, expectOk } from './harness.js';

async function runNotebook(scratch: Scratch, name: string): Promise<Record<string, string>> {
  const plan = analyzeNotebook(loadNotebook(name), { fileName: name });
  expect(plan.diagnostics.filter(d => d.severity === 'error')).toEqual([]);
  expect(isCompilable(plan)).toBe(true);
  const stdout: Record<string, string> = {};
  for (const step of plan.steps) {
    const spec = buildStepSpec(plan, step, { dataDir: scratch.data, workdir: scratch.work });
    const metrics = join(scratch.root, `${step.id}.metrics.json`);
    const run = expectOk(await scratch.run(spec, ['--metrics-file', metrics]));
    stdout[step.name] = run.stdout;
  }
  return stdout;
}

describe('test notebooks run step by step', () => {
  it('training.ipynb: parameters, functions cell reading step globals, metrics', async () => {
    const scratch = new Scratch();
    try {
      const out = await runNotebook(scratch, 'training.ipynb');
      expect(out.inspect).toMatch(/^\(200, 4\) -?\d/);
      expect(out.report).toMatch(/^\['normalized', 'trained baseline'\] \d/);
      const metrics = JSON.parse(
        readFileSync(join(scratch.root, 'report.metrics.json'), 'utf8')
      ) as Record<string, number>;
      expect(Object.keys(metrics)).toEqual(['final_loss']);
      expect(metrics.final_loss).toBeCloseTo(Number(/\] (\S+)\n$/.exec(out.report)?.[1]), 20);
    } finally {
      scratch.dispose();
    }
  });

  it('classes.ipynb: notebook classes, decorators and lambdas across steps', async () => {
    const scratch = new Scratch();
    try {
      const out = await runNotebook(scratch, 'classes.ipynb');
      expect(out.combine).toBe('134 [1.0, 2.0, 3.0]\n');
    } finally {
      scratch.dispose();
    }
  });

  it('step-classes.ipynb: a class, a function and a closure a step defines reach a later step', async () => {
    const scratch = new Scratch();
    try {
      const out = await runNotebook(scratch, 'step-classes.ipynb');
      expect(out.use).toBe('10 110 20 Acc\n');
    } finally {
      scratch.dispose();
    }
  });

  it('magics.ipynb: shell escapes, line and cell magics in steps', async () => {
    const scratch = new Scratch();
    try {
      await runNotebook(scratch, 'magics.ipynb');
      const summary = JSON.parse(
        readFileSync(join(scratch.work, 'out', 'summary.json'), 'utf8')
      ) as {
        total: number;
        labels: string[];
      };
      expect(summary.labels).toEqual(['out']);
      expect(summary.total).toBe(3);
    } finally {
      scratch.dispose();
    }
  });
});
