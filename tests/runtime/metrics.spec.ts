/**
 * Metrics as a user reads them in `_metrics.json` and the --metrics-file: numpy scalars become
 * plain JSON numbers and booleans, NaN and infinities become strings (JSON has no such numbers).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Scratch, expectOk, stepSpec } from './harness.js';

describe('metrics', () => {
  const scratch = new Scratch();
  afterAll(() => scratch.dispose());

  it('are written as JSON, numpy scalars as numbers, NaN and infinities as strings', async () => {
    const spec = stepSpec({
      step: 'score',
      code: [
        'import numpy as np\nacc = np.float64(0.75)\npassed = np.bool_(True)\nn = np.int64(3)\n' +
          'loss = float("nan")\nworst = -np.inf\nlabel = "v1"\n'
      ],
      metrics: ['acc', 'label', 'loss', 'n', 'passed', 'worst']
    });
    const file = join(scratch.root, 'metrics.json');
    const run = expectOk(await scratch.run(spec, ['--metrics-file', file]));
    const text = readFileSync(file, 'utf8');
    expect(readFileSync(join(scratch.data, 'score', '_metrics.json'), 'utf8')).toBe(text);
    expect(JSON.parse(text)).toEqual({
      acc: 0.75,
      label: 'v1',
      loss: 'NaN',
      n: 3,
      passed: true,
      worst: '-Infinity'
    });
    expect(run.errLines).toContain('chard: metric loss = "NaN"');
  });
});
