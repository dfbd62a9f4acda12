/**
 * Random notebooks — random tags, valid and invalid Python, hostile names — never make the
 * analysis throw: every failure is a diagnostic, and every plan is consistent.
 */
import { analyzeNotebook } from '../../src/core/analyze.js';
import { isDnsLabel } from '../../src/core/names.js';
import { makeNotebook } from './fixtures.js';
import type { CellSpec } from './fixtures.js';
import { seededRandom } from '../support/random.js';

const NAMES = ['a', 'b', 'df', 'model', 'x_train', 'données', 'π', 'cfg'];
const STEP_NAMES = [
  'load',
  'train',
  'a"; rm -rf /',
  "it's",
  'x: y',
  '{{workflow.name}}',
  '$(reboot)',
  'ünïcode',
  '---',
  'key: value\n- item',
  ' ',
  ''
];
const SNIPPETS = [
  (n: string, m: string) => `${n} = ${m} + 1`,
  (n: string, m: string) => `${n}.append(${m})`,
  (n: string) => `del ${n}`,
  (n: string, m: string) => `for ${n} in ${m}:\n    print(${n})`,
  (n: string) => `%time ${n} = 1`,
  (n: string) => `!echo ${n} | tee out.txt`,
  (n: string, m: string) => `def f_${n.length}():\n    return ${m}\n${n} = f_${n.length}()`,
  (n: string) => `${n} = [q for q in range(3)] if True else (lambda: ${n})`,
  () => 'x = (1 +',
  () => 'def broken(:\n  pass',
  () => 'from somewhere import *',
  () => '"""unterminated',
  () => "s = 'quote \" and \\' and {{workflow.name}} and $(id) and `id`'",
  () => '%%bash\nrm -rf /',
  () => 'class C:\n    def m(self):\n        return G\nC().m()',
  (n: string) => `${n}: int = 3`,
  () => '\t\tbad indent = 1',
  () => 'if (y := 3) > 2:\n    z = y'
];
const TAGS = [
  'imports',
  'functions',
  'skip',
  'pipeline-parameters',
  'pipeline-metrics',
  'limit:cpu:2',
  'limit:bad',
  'label:a:b',
  'cache:enabled',
  'secret:s:k:ENV',
  'image:busybox',
  'parameters',
  'hide-input'
];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

function randomNotebook(seed: number) {
  const r = seededRandom(seed);
  const cells: CellSpec[] = [];
  const count = 1 + Math.floor(r() * 14);
  for (let i = 0; i < count; i++) {
    if (r() < 0.15) {
      cells.push({ md: `# ${pick(r, STEP_NAMES)}` });
      continue;
    }
    const tags: string[] = [];
    const k = Math.floor(r() * 3);
    for (let j = 0; j < k; j++) {
      const roll = r();
      tags.push(
        roll < 0.4
          ? `step:${pick(r, STEP_NAMES)}`
          : roll < 0.55
            ? `prev:${pick(r, STEP_NAMES)}`
            : pick(r, TAGS)
      );
    }
    const lines = 1 + Math.floor(r() * 4);
    const src: string[] = [];
    for (let j = 0; j < lines; j++) {
      src.push(pick(r, SNIPPETS)(pick(r, NAMES), pick(r, NAMES)));
    }
    cells.push({ tags, src: src.join('\n') });
  }
  return makeNotebook(cells);
}

describe('analysis of random notebooks', () => {
  it('never throws, and every plan is consistent', () => {
    for (let seed = 1; seed <= 400; seed++) {
      const nb = randomNotebook(seed);
      const plan = analyzeNotebook(nb);
      const names = new Set(plan.steps.map(s => s.name));
      expect(new Set(plan.steps.map(s => s.id)).size).toBe(plan.steps.length);
      for (const s of plan.steps) {
        expect(isDnsLabel(s.id)).toBe(true);
        for (const p of s.parents) {
          expect(names.has(p)).toBe(true);
        }
        for (const input of s.inputs) {
          expect(names.has(s.inputSources[input])).toBe(true);
        }
        expect(s.code.map(c => c.source)).toEqual(s.cells.map(i => nb.cells[i].source));
      }
      for (const d of plan.diagnostics) {
        expect(['error', 'warning']).toContain(d.severity);
        expect(d.message.length).toBeGreaterThan(0);
        if (d.cell !== null) {
          expect(d.cell).toBeGreaterThanOrEqual(0);
          expect(d.cell).toBeLessThan(nb.cells.length);
        }
      }
      expect(() => JSON.stringify(plan)).not.toThrow();
    }
  });
});
