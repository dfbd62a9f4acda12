import { analyzeNotebook } from '../../src/core/analyze.js';
import { isCompilable } from '../../src/core/plan.js';
import type { IPlan, IStep } from '../../src/core/plan.js';
import { loadNotebook, makeNotebook } from './fixtures.js';

function step(plan: IPlan, name: string): IStep {
  const s = plan.steps.find(x => x.name === name);
  if (!s) {
    throw new Error(`no step ${name} in ${plan.steps.map(x => x.name).join(', ')}`);
  }
  return s;
}

function errors(plan: IPlan) {
  return plan.diagnostics.filter(d => d.severity === 'error');
}

describe('a tabular flow with parallel model steps', () => {
  const plan = analyzeNotebook(loadNotebook('tabular.ipynb'), { fileName: 'tabular.ipynb' });

  it('groups cells into steps in notebook order, untagged cells joining the step above and skip cells dropping out', () => {
    expect(plan.steps.map(s => [s.name, s.cells])).toEqual([
      ['load_data', [3, 4]],
      ['preprocess', [5, 6]],
      ['train_logreg', [7]],
      ['train_forest', [8]],
      ['train_gbm', [10]],
      ['results', [11]]
    ]);
    expect(plan.imports.map(b => b.cell)).toEqual([1]);
    expect(isCompilable(plan)).toBe(true);
  });

  it('passes the train/test split to the three models, which run in parallel', () => {
    for (const name of ['train_logreg', 'train_forest', 'train_gbm']) {
      expect(step(plan, name).inputs).toEqual(['X_test', 'X_train', 'y_test', 'y_train']);
      expect(step(plan, name).parents).toEqual(['preprocess']);
    }
    expect(step(plan, 'preprocess').outputs).toEqual(['X_test', 'X_train', 'y_test', 'y_train']);
  });

  it('does not ship what no later step reads, and does not count a mutation nobody reads later', () => {
    expect(step(plan, 'load_data').outputs).toEqual(['df']);
    expect(step(plan, 'preprocess').inputs).toEqual(['df']);
    expect(step(plan, 'results').outputs).toEqual([]);
  });

  it('reads parameters and metrics from their cells', () => {
    expect(plan.parameters.map(p => [p.name, p.type, p.value])).toEqual([
      ['TEST_SIZE', 'float', 0.25],
      ['SEED', 'int', 42],
      ['N_TREES', 'int', 100]
    ]);
    expect(step(plan, 'train_forest').parameters).toEqual(['N_TREES', 'SEED']);
    expect(step(plan, 'train_logreg').parameters).toEqual([]);
    expect(plan.metrics.map(m => [m.name, m.step])).toEqual([
      ['best_accuracy', 'results'],
      ['acc_logreg', 'train_logreg']
    ]);
  });

  it('carries limits and the notebook settings', () => {
    expect(step(plan, 'train_logreg').limits).toEqual({ cpu: '1' });
    expect(step(plan, 'train_forest').limits).toEqual({ memory: '2Gi' });
    expect(plan.pipeline).toMatchObject({
      name: 'churn',
      experiment: 'churn-exp',
      image: 'python:3.11'
    });
  });

  it('lists each edge with the variables it carries', () => {
    expect(plan.edges).toContainEqual({
      from: 'preprocess',
      to: 'train_gbm',
      names: ['X_test', 'X_train', 'y_test', 'y_train']
    });
    expect(plan.edges).toContainEqual({
      from: 'train_forest',
      to: 'results',
      names: ['acc_forest']
    });
  });
});

describe('a training flow with mutation, del, read-only use and notebook functions', () => {
  const plan = analyzeNotebook(loadNotebook('training.ipynb'));

  it('makes the free variables of a notebook function inputs of the step calling it', () => {
    expect(step(plan, 'normalize_data').inputs).toEqual(['MEAN', 'STD', 'history', 'raw']);
  });

  it('makes a step that mutates a value its supplier for later steps', () => {
    // log() appends to history: train supplies it to report, not make_data.
    expect(step(plan, 'report').inputSources.history).toBe('train');
    expect(step(plan, 'train').inputSources.history).toBe('normalize_data');
  });

  it('does not make a read-only step a supplier', () => {
    expect(step(plan, 'inspect').outputs).toEqual([]);
    expect(step(plan, 'train').inputSources.data).toBe('normalize_data');
    expect(step(plan, 'report').parents).toEqual(['normalize_data', 'train']);
  });

  it('drops a deleted name from the outputs', () => {
    expect(step(plan, 'make_data').outputs).not.toContain('tmp');
    expect(step(plan, 'make_data').outputs).toEqual(['MEAN', 'STD', 'history', 'raw']);
  });

  it('infers parallelism without prev: tags, and orders by prev: only when asked', () => {
    expect(step(plan, 'inspect').parents).toEqual(['normalize_data']);
    const kale = analyzeNotebook(loadNotebook('training.ipynb'), { inferDependencies: false });
    expect(step(kale, 'inspect').parents).toEqual([]);
    expect(errors(kale).map(e => e.message)).toContainEqual(
      expect.stringMatching(
        /step "normalize_data" reads `MEAN` from step "make_data", which is not among its `prev:` ancestors/
      )
    );
  });
});

describe('a notebook full of magics and shell lines', () => {
  const plan = analyzeNotebook(loadNotebook('magics.ipynb'));

  it('analyses through magics without errors', () => {
    expect(plan.diagnostics).toEqual([]);
    expect(step(plan, 'fetch').outputs).toEqual(['counts']);
    expect(step(plan, 'timed').inputs).toEqual(['counts']);
    expect(step(plan, 'save').inputs).toEqual(['labels', 'total']);
  });

  it('treats a %%bash cell as opaque', () => {
    expect(step(plan, 'shell_only').inputs).toEqual([]);
    expect(step(plan, 'shell_only').parents).toEqual([]);
  });
});

describe('functions and classes defined in the notebook', () => {
  const plan = analyzeNotebook(loadNotebook('classes.ipynb'));

  it('reads the globals a class method uses where the class is used', () => {
    expect(step(plan, 'scale').inputs).toEqual(['BASE', 'values']);
    expect(step(plan, 'square').inputs).toEqual(['values']);
    expect(step(plan, 'combine').parents).toEqual(['scale', 'square']);
    expect(plan.diagnostics).toEqual([]);
  });
});

describe('a notebook without step tags', () => {
  const plan = analyzeNotebook(loadNotebook('untagged.ipynb'));

  it('proposes one step per heading section, merging sections without code into the next', () => {
    expect(plan.proposed).toBe(true);
    expect(plan.steps.map(s => s.name)).toEqual([
      'load_the_data',
      'features',
      'model_a_mean',
      'model_b_trend',
      'compare'
    ]);
    expect(plan.imports.map(b => b.cell)).toEqual([1]);
    expect(step(plan, 'model_b_trend').parents).toEqual(['features']);
    expect(step(plan, 'compare').parents).toEqual(['model_a_mean', 'model_b_trend']);
  });
});

describe('a notebook written by Kale', () => {
  const plan = analyzeNotebook(loadNotebook('kale-ui.ipynb'));

  it('reads block: tags, prev:, steps_defaults and kubeflow_notebook metadata', () => {
    expect(plan.steps.map(s => [s.name, s.parents])).toEqual([
      ['dataprocessing', []],
      ['train', ['dataprocessing']],
      ['evaluate', ['dataprocessing', 'train']]
    ]);
    expect(step(plan, 'train').limits).toEqual({ 'nvidia.com/gpu': '1' });
    expect(step(plan, 'train').annotations).toEqual({ 'sidecar.istio.io/inject': 'false' });
    expect(step(plan, 'evaluate').labels).toEqual({
      'access-ml-pipeline': 'true',
      'access-rok': 'true'
    });
    expect(plan.pipeline).toMatchObject({
      name: 'linear-fit',
      experiment: 'kale-exp',
      description: 'Linear fit',
      image: 'gcr.io/arrikto/jupyter-kale-py36:latest',
      autosnapshot: true,
      volumes: [
        { type: 'pvc', name: 'workspace-linear-fit-abc12', mountPoint: '/home/jovyan', size: '5Gi' }
      ]
    });
    expect(plan.metrics).toEqual([expect.objectContaining({ name: 'err', step: 'evaluate' })]);
    expect(isCompilable(plan)).toBe(true);
  });
});

describe('errors name the cells involved', () => {
  it('reports a prev: to an unknown step', () => {
    const plan = analyzeNotebook(
      makeNotebook([
        { tags: ['step:a'], src: 'x = 1' },
        { tags: ['step:b', 'prev:nope'], src: 'y = x' }
      ])
    );
    expect(errors(plan)).toEqual([
      expect.objectContaining({ cell: 1, message: expect.stringContaining('prev:nope') })
    ]);
  });

  it('reports a cycle through prev: tags', () => {
    const plan = analyzeNotebook(
      makeNotebook([
        { tags: ['step:a', 'prev:b'], src: 'x = 1' },
        { tags: ['step:b'], src: 'y = x' }
      ])
    );
    expect(errors(plan)).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(
          /cycle: "a" \(cell 1\) -> "b" \(cell 2\) -> "a"|cycle: "b" \(cell 2\) -> "a" \(cell 1\) -> "b"/
        )
      })
    ]);
  });

  it('reports two step names on one cell and invalid step names', () => {
    const plan = analyzeNotebook(
      makeNotebook([
        { tags: ['step:a', 'step:b'], src: 'x = 1' },
        { tags: ['step: padded'], src: 'y = 1' }
      ])
    );
    expect(errors(plan).map(e => e.cell)).toEqual([0, 1]);
  });

  it('reports a parameter that is not a literal, on its line', () => {
    const plan = analyzeNotebook(
      makeNotebook([
        { tags: ['pipeline-parameters'], src: 'A = 1\nB = compute()\nC = "ok"' },
        { tags: ['step:s'], src: 'print(A, C)' }
      ])
    );
    expect(errors(plan)).toEqual([
      expect.objectContaining({ cell: 0, line: 2, message: expect.stringContaining('`B`') })
    ]);
    expect(plan.parameters.map(p => p.name)).toEqual(['A', 'C']);
  });

  it('reports a syntax error with cell and line', () => {
    const plan = analyzeNotebook(
      makeNotebook([{ tags: ['step:s'], src: 'x = 1\nif x >:\n    pass' }])
    );
    expect(errors(plan)).toEqual([expect.objectContaining({ cell: 0, line: 2 })]);
  });

  it('reports a metric no step produces', () => {
    const plan = analyzeNotebook(
      makeNotebook([
        { tags: ['step:s'], src: 'x = 1' },
        { tags: ['pipeline-metrics'], src: 'print(acc)' }
      ])
    );
    expect(errors(plan)).toEqual([
      expect.objectContaining({ cell: 1, line: 1, message: expect.stringContaining('acc') })
    ]);
  });
});

describe('Kale-compatible grouping', () => {
  it('merges a step name used again later, keeps unknown tags harmless and ignores a skip cell in the middle', () => {
    const plan = analyzeNotebook(
      makeNotebook([
        { tags: ['parameters', 'step:a'], src: 'x = 1' },
        { tags: ['skip'], src: 'x = 100' },
        { tags: ['hide-input'], src: 'x += 1' },
        { tags: ['step:b'], src: 'y = x' },
        { tags: ['step:a'], src: 'z = 2' },
        { tags: ['step:c'], src: 'print(y, z)' }
      ])
    );
    expect(plan.steps.map(s => [s.name, s.cells])).toEqual([
      ['a', [0, 2, 4]],
      ['b', [3]],
      ['c', [5]]
    ]);
    expect(plan.steps[2].parents).toEqual(['a', 'b']);
  });

  it('warns about code before the first tag, which Kale drops', () => {
    const plan = analyzeNotebook(
      makeNotebook(['import os', { tags: ['step:a'], src: 'x = os.getcwd()' }])
    );
    expect(plan.diagnostics).toEqual([expect.objectContaining({ severity: 'warning', cell: 0 })]);
  });

  it('derives unique, deterministic Kubernetes names from step names', () => {
    const plan = analyzeNotebook(
      makeNotebook([
        { tags: ['step:Train Model'], src: 'a = 1' },
        { tags: ['step:train_model'], src: 'b = a' },
        { tags: ['step:a"; rm -rf /'], src: 'c = b' },
        { tags: ['step:模型'], src: 'd = c' }
      ])
    );
    const ids = plan.steps.map(s => s.id);
    expect(new Set(ids).size).toBe(4);
    for (const id of ids) {
      expect(id).toMatch(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
    }
    // the same notebook always gives the same names; a plain Kale name stays readable
    expect(
      analyzeNotebook(
        makeNotebook([
          { tags: ['step:Train Model'], src: 'a = 1' },
          { tags: ['step:train_model'], src: 'b = a' },
          { tags: ['step:a"; rm -rf /'], src: 'c = b' },
          { tags: ['step:模型'], src: 'd = c' }
        ])
      ).steps.map(s => s.id)
    ).toEqual(ids);
    expect(
      analyzeNotebook(makeNotebook([{ tags: ['step:load_data'], src: 'a = 1' }])).steps[0].id
    ).toBe('load-data');
    expect(plan.steps[2].name).toBe('a"; rm -rf /');
    expect(isCompilable(plan)).toBe(true);
  });
});

describe('Kale notebooks in the wild', () => {
  it('reads block:imports and the like as the special tags, as Kale does', () => {
    const plan = analyzeNotebook(
      makeNotebook([
        { tags: ['block:imports'], src: 'import os\nimport numpy as np' },
        { tags: ['step:pipeline-parameters'], src: 'N = 3' },
        { tags: ['block:sum'], src: 'total = np.arange(N).sum()' },
        { tags: ['block:skip'], src: 'total = -1' },
        { tags: ['block:report', 'prev:sum'], src: 'print(os.getcwd(), total)' }
      ])
    );
    expect(plan.steps.map(s => s.name)).toEqual(['sum', 'report']);
    expect(plan.imports.map(b => b.cell)).toEqual([0]);
    expect(plan.parameters.map(p => p.name)).toEqual(['N']);
    expect(step(plan, 'report').inputs).toEqual(['total']);
  });

  it('accepts floats written with a trailing dot', () => {
    const plan = analyzeNotebook(
      makeNotebook([
        { tags: ['pipeline-parameters'], src: 'LR = 1.\nDECAY = 0.' },
        {
          tags: ['step:s'],
          src: 'class_correct = list(0. for i in range(10))\nw = (1. if LR else 2.)\nlabel = "v1. final"'
        }
      ])
    );
    expect(plan.diagnostics).toEqual([]);
    expect(plan.parameters.map(p => [p.name, p.type, p.value])).toEqual([
      ['LR', 'float', 1],
      ['DECAY', 'float', 0]
    ]);
    expect(step(plan, 's').parameters).toEqual(['LR']);
  });

  it('never passes a builtin between steps, even when a method is called on it', () => {
    const plan = analyzeNotebook(
      makeNotebook([
        {
          tags: ['step:define'],
          src: 'Base = object\nclass Layer(Base):\n    def __init__(self):\n        super().__init__()'
        },
        { tags: ['step:use'], src: 'layer = Layer()' }
      ])
    );
    expect(step(plan, 'define').outputs).toEqual(['Layer']);
    expect(step(plan, 'use').inputs).toEqual(['Layer']);
  });

  it('records a metric that names a parameter on the last step that reads it', () => {
    const plan = analyzeNotebook(
      makeNotebook([
        { tags: ['pipeline-parameters'], src: 'd1 = 5\nd2 = 6' },
        { tags: ['step:create_matrix'], src: 'import numpy as np\nm = np.random.rand(d1, d2)' },
        { tags: ['step:sum_matrix'], src: 'sum_result = m.sum()' },
        { tags: ['pipeline-metrics'], src: 'print(d1)\nprint(d2)\nprint(sum_result)' }
      ])
    );
    expect(errors(plan)).toEqual([]);
    expect(plan.metrics.map(m => [m.name, m.step])).toEqual([
      ['d1', 'create_matrix'],
      ['d2', 'create_matrix'],
      ['sum_result', 'sum_matrix']
    ]);
  });

  it('explains a prev: tag that names two steps', () => {
    const plan = analyzeNotebook(
      makeNotebook([
        { tags: ['step:sum'], src: 'a = 1' },
        { tags: ['step:cumsum'], src: 'b = 2' },
        { tags: ['step:out', 'prev:sum:cumsum'], src: 'print(a, b)' }
      ])
    );
    expect(errors(plan).map(e => e.message)).toEqual([
      expect.stringContaining('`prev:sum`, `prev:cumsum`')
    ]);
  });

  it("reads Kale's clone volumes as workspace claims and warns about volumes it cannot mount", () => {
    const volume = (type: string, name: string) => ({
      type,
      name,
      mount_point: `/mnt/${name}`,
      size: 1,
      size_type: 'Gi',
      annotations: []
    });
    const plan = analyzeNotebook(
      makeNotebook([{ tags: ['step:s'], src: 'x = 1' }], {
        kubeflow_notebook: { volumes: [volume('clone', 'workspace'), volume('snap', 'rok-snap')] }
      })
    );
    expect(plan.pipeline.volumes).toEqual([
      { type: 'pvc', name: 'workspace', mountPoint: '/mnt/workspace', size: '1Gi' }
    ]);
    expect(plan.diagnostics).toEqual([
      expect.objectContaining({ severity: 'warning', message: expect.stringContaining('rok-snap') })
    ]);
  });

  it('leaves cells that only install packages out of a proposed plan, with a warning', () => {
    const plan = analyzeNotebook(
      makeNotebook([
        { md: '# Setup' },
        '!pip3 install --user kubeflow-katib\n%pip install xgboost',
        { md: '# Load' },
        'x = 1'
      ])
    );
    expect(plan.steps.map(s => s.name)).toEqual(['load']);
    expect(plan.diagnostics).toEqual([expect.objectContaining({ severity: 'warning', cell: 1 })]);
  });
});
