/**
 * A step image may be a bare Python (python:3.11): the runtime must start, run cells, pass
 * values and record metrics with the standard library alone. `python -I -S` leaves out every
 * site-packages folder (no IPython, no numpy, no isal) and the environment's PYTHON* variables.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectOk, Scratch, stepSpec } from './harness.js';

const BARE = { pythonArgs: ['-I', '-S'] };

describe('the step runtime on the standard library alone', () => {
  let scratch: Scratch;
  beforeEach(() => {
    scratch = new Scratch('chard-stdlib-');
  });
  afterEach(() => scratch.dispose());

  it('runs two steps that pass values, with checksums from zlib, and records a metric', async () => {
    const check = await scratch.run(
      stepSpec({
        step: 'probe',
        code: [
          'import sys\nprint(sorted(m for m in ("IPython", "numpy", "isal") if m in sys.modules))\n' +
            'print(any(d in p for p in sys.path for d in ("site-packages", "dist-packages")))'
        ]
      }),
      [],
      BARE
    );
    expect(expectOk(check).stdout).toBe('[]\nFalse\n');

    const produce = await scratch.run(
      stepSpec({
        step: 'producer',
        code: [
          'rows = [{"id": i, "score": i / 4} for i in range(1000)]\n' +
            'def best(rs):\n    return max(rs, key=lambda r: r["score"])\n' +
            'blob = bytes(range(256)) * 4096'
        ],
        outputs: ['rows', 'best', 'blob']
      }),
      [],
      BARE
    );
    expectOk(produce);
    const consume = await scratch.run(
      stepSpec({
        step: 'consumer',
        code: [
          'top = best(rows)\nprint("top", top["id"], len(blob))\nscore = top["score"]',
          'print(score)'
        ],
        inputs: ['rows', 'best', 'blob'],
        metrics: ['score']
      }),
      ['--metrics-file', join(scratch.root, 'metrics.json')],
      BARE
    );
    expect(expectOk(consume).stdout).toContain('top 999 1048576\n');
    expect(JSON.parse(readFileSync(join(scratch.root, 'metrics.json'), 'utf8'))).toMatchObject({
      score: 249.75
    });
  });
});
