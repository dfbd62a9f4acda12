/**
 * A realistic four-step pipeline run step by step through the real runtime with Debian's Python:
 * what each consumer receives must equal what its producer had (numpy array, DataFrame, fitted
 * scikit-learn model, dict, functions and a lambda defined in the notebook, an instance of a class
 * the notebook defines), parameters are restored and overridden by type, metrics are recorded.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IPlan, IStep } from '../../src/core/plan.js';
import { buildStepSpec } from '../../src/core/stepspec.js';
import { step as planStep } from '../core/compile/support.js';
import { Scratch, expectOk } from './harness.js';

const IMPORTS = `import json
import hashlib
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
`;

const FUNCTIONS = `class FeatureSummary:
    """Column means and spreads, as the notebook computes them."""

    def __init__(self, means, spreads):
        self.means = dict(means)
        self.spreads = dict(spreads)

    def describe(self):
        return {k: [round(self.means[k], 6), round(self.spreads[k], 6)] for k in sorted(self.means)}


def digest(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def record(path, **facts):
    with open(path, "w") as f:
        json.dump(facts, f, sort_keys=True, indent=1)
`;

const LOAD_1 = `rng = np.random.default_rng(seed)
raw = rng.normal(size=(n_rows, 3))
frame = pd.DataFrame({
    "tenure": rng.integers(1, 72, size=n_rows),
    "spend": raw[:, 0] * 10 + 50,
    "plan": rng.choice(["basic", "pro", "team"], size=n_rows),
    "signup": pd.date_range("2023-01-01", periods=n_rows, freq="D"),
})
frame.loc[3, "plan"] = None
config = {"label": label, "threshold": threshold, "tags": ["a", "b"], "nested": {"k": (1, 2)}}
`;

const LOAD_2 = `def normalize(values):
    arr = np.asarray(values, dtype=float)
    return ((arr - arr.mean()) / (arr.std() or 1.0)).round(6).tolist()

clip = lambda v: max(-1.0, min(1.0, v))
record("load.json", raw=[list(raw.shape), str(raw.dtype), digest(raw)],
       frame=frame.to_json(orient="split", date_format="iso"), dtypes=[str(t) for t in frame.dtypes],
       config=repr(config), normalize=normalize([1, 2, 4]), clip=[clip(-3), clip(0.5)])
`;

const FEATURES = `record("features-in.json", raw=[list(raw.shape), str(raw.dtype), digest(raw)],
       frame=frame.to_json(orient="split", date_format="iso"), dtypes=[str(t) for t in frame.dtypes],
       config=repr(config), normalize=normalize([1, 2, 4]), clip=[clip(-3), clip(0.5)])
X = np.column_stack([raw, frame["tenure"].to_numpy(), (frame["plan"] == "pro").to_numpy()])
y = (raw[:, 1] + 0.3 * raw[:, 2] > 0).astype(int)
summary = FeatureSummary(frame[["tenure", "spend"]].mean(), frame[["tenure", "spend"]].std())
record("features-out.json", X=digest(X), y=digest(y), summary=summary.describe())
`;

const TRAIN = `record("train-in.json", X=digest(X), y=digest(y))
model = LogisticRegression(C=regularization, max_iter=500).fit(X, y)
record("train-out.json", predictions=model.predict_proba(X[:25]).round(10).tolist(),
       coef=model.coef_.round(10).tolist())
`;

const EVALUATE_1 = `record("evaluate-in.json", predictions=model.predict_proba(X[:25]).round(10).tolist(),
       coef=model.coef_.round(10).tolist(), summary=summary.describe(),
       summary_is_notebook_class=isinstance(summary, FeatureSummary),
       model_type=type(model).__name__, normalize=normalize([1, 2, 4]), config=repr(config))
`;

const EVALUATE_2 = `accuracy = float((model.predict(X) == y).mean())
n_scored = int(len(y))
passed = bool(accuracy > config["threshold"])
`;

function step(name: string, fields: Partial<IStep> & Pick<IStep, 'cells' | 'code'>): IStep {
  return planStep(name, name, '', fields);
}

/** The plan analysis would produce for the churn notebook (cells 0..10). */
const PLAN: IPlan = {
  version: 1,
  pipeline: {
    name: 'Churn model',
    id: 'churn-model',
    description: 'Train and evaluate a churn classifier',
    experiment: 'churn',
    volumes: [],
    autosnapshot: false,
    chard: {}
  },
  proposed: false,
  imports: [{ cell: 0, source: IMPORTS }],
  functions: [{ cell: 1, source: FUNCTIONS }],
  steps: [
    step('load', {
      cells: [3, 4],
      code: [
        { cell: 3, source: LOAD_1 },
        { cell: 4, source: LOAD_2 }
      ],
      outputs: ['clip', 'config', 'frame', 'normalize', 'raw'],
      parameters: ['label', 'n_rows', 'seed', 'threshold']
    }),
    step('features', {
      cells: [5],
      code: [{ cell: 5, source: FEATURES }],
      inputs: ['clip', 'config', 'frame', 'normalize', 'raw'],
      outputs: ['X', 'summary', 'y'],
      parents: ['load'],
      inputSources: { clip: 'load', config: 'load', frame: 'load', normalize: 'load', raw: 'load' }
    }),
    step('train', {
      cells: [7],
      code: [{ cell: 7, source: TRAIN }],
      inputs: ['X', 'y'],
      outputs: ['model'],
      parameters: ['regularization'],
      parents: ['features'],
      inputSources: { X: 'features', y: 'features' }
    }),
    step('evaluate', {
      cells: [8, 9],
      code: [
        { cell: 8, source: EVALUATE_1 },
        { cell: 9, source: EVALUATE_2 }
      ],
      inputs: ['X', 'config', 'model', 'normalize', 'summary', 'y'],
      metrics: ['accuracy', 'n_scored', 'passed'],
      parents: ['features', 'train'],
      inputSources: {
        X: 'features',
        config: 'load',
        model: 'train',
        normalize: 'load',
        summary: 'features',
        y: 'features'
      }
    })
  ],
  edges: [
    { from: 'load', to: 'features', names: ['clip', 'config', 'frame', 'normalize', 'raw'] },
    { from: 'features', to: 'train', names: ['X', 'y'] },
    { from: 'features', to: 'evaluate', names: ['X', 'summary', 'y'] },
    { from: 'load', to: 'evaluate', names: ['config', 'normalize'] },
    { from: 'train', to: 'evaluate', names: ['model'] }
  ],
  parameters: [
    { name: 'n_rows', type: 'int', value: 120, cell: 2, line: 1 },
    { name: 'seed', type: 'int', value: 7, cell: 2, line: 2 },
    { name: 'label', type: 'str', value: 'churned', cell: 2, line: 3 },
    { name: 'threshold', type: 'float', value: 0.5, cell: 2, line: 4 },
    { name: 'regularization', type: 'float', value: 1, cell: 2, line: 5 }
  ],
  metrics: [
    { name: 'accuracy', step: 'evaluate', cell: 10, line: 1 },
    { name: 'n_scored', step: 'evaluate', cell: 10, line: 2 },
    { name: 'passed', step: 'evaluate', cell: 10, line: 3 }
  ],
  diagnostics: []
};

function facts(dir: string, name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, name), 'utf8')) as Record<string, unknown>;
}

describe('a four-step pipeline through the runtime', () => {
  const scratch = new Scratch();
  const logs: Record<string, string> = {};

  beforeAll(async () => {
    for (const s of PLAN.steps) {
      const spec = buildStepSpec(PLAN, s, { dataDir: 'ignored', workdir: '' });
      const extra =
        s.name === 'load'
          ? ['--param', 'n_rows=200', '--param', 'threshold=0.25']
          : ['--metrics-file', join(scratch.root, `${s.id}.metrics.json`)];
      const run = expectOk(await scratch.run(spec, extra));
      logs[s.name] = run.stderr;
    }
  }, 120000);

  afterAll(() => scratch.dispose());

  it('restores parameters with --param overrides parsed by type', () => {
    const load = facts(scratch.work, 'load.json');
    expect((load.raw as unknown[])[0]).toEqual([200, 3]);
    expect(load.config).toContain("'threshold': 0.25");
    expect(load.config).toContain("'label': 'churned'");
  });

  it('delivers the numpy array, DataFrame, dict, function and lambda unchanged', () => {
    const produced = facts(scratch.work, 'load.json');
    const received = facts(scratch.work, 'features-in.json');
    expect(received).toEqual(produced);
    expect(produced.dtypes).toEqual(['int64', 'float64', 'object', 'datetime64[ns]']);
  });

  it('delivers derived arrays and the notebook-class instance to later steps', () => {
    const produced = facts(scratch.work, 'features-out.json');
    expect(facts(scratch.work, 'train-in.json')).toEqual({ X: produced.X, y: produced.y });
    const evaluated = facts(scratch.work, 'evaluate-in.json');
    expect(evaluated.summary).toEqual(produced.summary);
    expect(evaluated.summary_is_notebook_class).toBe(true);
  });

  it('delivers the fitted scikit-learn model: same coefficients and predictions', () => {
    const trained = facts(scratch.work, 'train-out.json');
    const evaluated = facts(scratch.work, 'evaluate-in.json');
    expect(evaluated.model_type).toBe('LogisticRegression');
    expect(evaluated.predictions).toEqual(trained.predictions);
    expect(evaluated.coef).toEqual(trained.coef);
    expect(evaluated.normalize).toEqual(facts(scratch.work, 'load.json').normalize);
  });

  it('stores each value with a manifest and the backend for its type', () => {
    const manifest = (step: string, name: string): Record<string, unknown> =>
      JSON.parse(readFileSync(join(scratch.data, step, name, 'manifest.json'), 'utf8')) as Record<
        string,
        unknown
      >;
    expect(manifest('load', 'raw')).toMatchObject({
      name: 'raw',
      type: 'numpy.ndarray',
      backend: 'numpy',
      file: 'value.npy',
      size: 128 + 200 * 3 * 8,
      step: 'load'
    });
    expect(manifest('load', 'frame')).toMatchObject({
      type: 'pandas.core.frame.DataFrame',
      backend: 'pickle'
    });
    expect(manifest('train', 'model')).toMatchObject({
      type: 'sklearn.linear_model._logistic.LogisticRegression',
      backend: 'joblib',
      file: 'value.joblib'
    });
    expect(manifest('load', 'normalize')).toMatchObject({ backend: 'pickle' });
    expect(manifest('features', 'summary')).toMatchObject({
      type: '__main__.FeatureSummary',
      backend: 'pickle'
    });
    expect(manifest('load', 'config').sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(logs.features).toMatch(/^chard: loaded raw \(numpy\.ndarray, numpy, 4928 bytes\)/m);
  });

  it('records the metrics in the data dir and the --metrics-file', () => {
    const inData = facts(join(scratch.data, 'evaluate'), '_metrics.json');
    const inFile = facts(scratch.root, 'evaluate.metrics.json');
    expect(inFile).toEqual(inData);
    expect(Object.keys(inData).sort()).toEqual(['accuracy', 'n_scored', 'passed']);
    expect(inData.accuracy).toBeGreaterThan(0.8);
    expect(inData.n_scored).toBe(200);
    expect(inData.passed).toBe(true);
    expect(existsSync(join(scratch.data, 'load', '_metrics.json'))).toBe(false);
  });
});
