/**
 * PyTorch values through the real runtime with Debian's python3-torch: a float32 CPU tensor, a
 * trained module whose class the notebook's functions cell defines, an nn.Sequential and the
 * state_dict travel with torch.save and arrive equal (torch.equal, same outputs for the same
 * input); views keep sharing their storage; a module whose class only the producing step
 * defines, or holding a lambda, travels with torch.save, those by value.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IPlan, IStep } from '../../src/core/plan.js';
import { buildStepSpec } from '../../src/core/stepspec.js';
import { step as planStep } from '../core/compile/support.js';
import { PYTHON, Scratch, expectOk, stepSpec } from './harness.js';

beforeAll(() => {
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(
      `${PYTHON} cannot import torch, which these tests need: install Debian's python3-torch ` +
        `(apt-get install --no-install-recommends python3-torch, as .ci/run does)\n${probe.stderr}`
    );
  }
});

const IMPORTS = `import json
import torch
from torch import nn
`;

const NET = `class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(3, 4)
        self.out = nn.Linear(4, 1)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x))) * self.scale
`;

const FUNCTIONS = `${NET}

def listed(t):
    return t.detach().tolist()


def record(path, **facts):
    with open(path, "w") as f:
        json.dump(facts, f, sort_keys=True, indent=1)
`;

const TRAIN = `torch.manual_seed(seed)
features = torch.randn(32, 3)
target = features @ torch.tensor([[1.5], [-2.0], [0.5]]) + 0.25
model = TinyNet()
head = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))
untrained = listed(model(features[:4]))
optimizer = torch.optim.SGD(list(model.parameters()) + list(head.parameters()), lr=0.05)
for _ in range(25):
    optimizer.zero_grad()
    loss = ((head(model(features)) - target) ** 2).mean()
    loss.backward()
    optimizer.step()
weights = model.state_dict()
probe = torch.linspace(-1, 1, 12).reshape(4, 3)
record("train.json", features=listed(features), model=listed(model(probe)),
       head=listed(head(model(probe))), weights={k: listed(v) for k, v in weights.items()},
       untrained=untrained, trained=listed(model(features[:4])))
`;

const EVALUATE = `torch.manual_seed(seed)
expected = torch.randn(32, 3)
probe = torch.linspace(-1, 1, 12).reshape(4, 3)
fresh = TinyNet()
fresh.load_state_dict(weights)
record("evaluate.json", features=listed(features), features_equal=torch.equal(features, expected),
       dtype=str(features.dtype), device=str(features.device),
       model_is_notebook_class=type(model) is TinyNet, model=listed(model(probe)),
       head=listed(head(model(probe))), weights={k: listed(v) for k, v in weights.items()},
       weights_equal=all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items()),
       reloaded_equal=torch.equal(fresh(probe), model(probe)),
       requires_grad=[p.requires_grad for p in model.parameters()])
`;

function step(name: string, fields: Partial<IStep> & Pick<IStep, 'cells' | 'code'>): IStep {
  return planStep(name, name, '', fields);
}

/** The plan analysis would produce for a notebook: imports, functions, train, evaluate. */
const PLAN: IPlan = {
  version: 1,
  pipeline: {
    name: 'Tiny net',
    id: 'tiny-net',
    description: '',
    experiment: 'torch',
    volumes: [],
    autosnapshot: false,
    chard: {}
  },
  proposed: false,
  imports: [{ cell: 0, source: IMPORTS }],
  functions: [{ cell: 1, source: FUNCTIONS }],
  steps: [
    step('train', {
      cells: [3],
      code: [{ cell: 3, source: TRAIN }],
      outputs: ['features', 'head', 'model', 'weights'],
      parameters: ['seed']
    }),
    step('evaluate', {
      cells: [4],
      code: [{ cell: 4, source: EVALUATE }],
      inputs: ['features', 'head', 'model', 'weights'],
      parameters: ['seed'],
      parents: ['train'],
      inputSources: { features: 'train', head: 'train', model: 'train', weights: 'train' }
    })
  ],
  edges: [{ from: 'train', to: 'evaluate', names: ['features', 'head', 'model', 'weights'] }],
  parameters: [{ name: 'seed', type: 'int', value: 3, cell: 2, line: 1 }],
  metrics: [],
  diagnostics: []
};

function json(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

describe('a trained torch model, its input tensor and its state_dict between two steps', () => {
  const scratch = new Scratch();

  beforeAll(async () => {
    for (const s of PLAN.steps) {
      expectOk(await scratch.run(buildStepSpec(PLAN, s, { dataDir: 'ignored', workdir: '' })));
    }
  }, 120000);

  afterAll(() => scratch.dispose());

  it('delivers the float32 CPU tensor unchanged (torch.equal)', () => {
    const trained = json(join(scratch.work, 'train.json'));
    const evaluated = json(join(scratch.work, 'evaluate.json'));
    expect(evaluated.features).toEqual(trained.features);
    expect(evaluated.features_equal).toBe(true);
    expect(evaluated.dtype).toBe('torch.float32');
    expect(evaluated.device).toBe('cpu');
  });

  it('delivers the trained modules: the notebook class, same outputs for the same input', () => {
    const trained = json(join(scratch.work, 'train.json'));
    const evaluated = json(join(scratch.work, 'evaluate.json'));
    expect(trained.trained).not.toEqual(trained.untrained);
    expect(evaluated.model_is_notebook_class).toBe(true);
    expect(evaluated.model).toEqual(trained.model);
    expect(evaluated.head).toEqual(trained.head);
    expect(evaluated.requires_grad).toEqual([true, true, true, true, true]);
  });

  it('delivers the state_dict: equal to the model weights, loads into a fresh model', () => {
    const trained = json(join(scratch.work, 'train.json'));
    const evaluated = json(join(scratch.work, 'evaluate.json'));
    expect(Object.keys(evaluated.weights as object).sort()).toEqual([
      'hidden.bias',
      'hidden.weight',
      'out.bias',
      'out.weight',
      'scale'
    ]);
    expect(evaluated.weights).toEqual(trained.weights);
    expect(evaluated.weights_equal).toBe(true);
    expect(evaluated.reloaded_equal).toBe(true);
  });

  it('stores all four with torch.save', () => {
    const manifest = (name: string): Record<string, unknown> =>
      json(join(scratch.data, 'train', name, 'manifest.json'));
    expect(manifest('features')).toMatchObject({
      type: 'torch.Tensor',
      backend: 'torch',
      file: 'value.pt'
    });
    expect(manifest('model')).toMatchObject({ type: '__main__.TinyNet', backend: 'torch' });
    expect(manifest('head')).toMatchObject({
      type: 'torch.nn.modules.container.Sequential',
      backend: 'torch'
    });
    expect(manifest('weights')).toMatchObject({
      type: 'collections.OrderedDict',
      backend: 'torch',
      file: 'value.pt'
    });
  });
});

describe('torch values beyond a plain tensor and module', () => {
  const scratch = new Scratch();
  afterAll(() => scratch.dispose());

  const use = (names: string[], code: string[]): ReturnType<typeof stepSpec> =>
    stepSpec({ step: 'use', code, inputs: names, from: 'make' });

  it('keep views of one tensor sharing its storage, stored once', async () => {
    const producer = stepSpec({
      step: 'make',
      code: [
        'import torch\nbase = torch.arange(250000.0)\n' +
          'batch = {"full": base, "window": base[2:5], "steps": [base[::2]]}'
      ],
      outputs: ['batch']
    });
    expectOk(await scratch.run(producer));
    const manifest = json(join(scratch.data, 'make', 'batch', 'manifest.json'));
    expect(manifest).toMatchObject({ type: 'builtins.dict', backend: 'torch' });
    expect(manifest.size).toBeGreaterThan(250000 * 4);
    expect(manifest.size).toBeLessThan(250000 * 4 + 10000);
    const run = await scratch.run(
      use(
        ['batch'],
        ['batch["full"][4] = -1\nprint(batch["window"].tolist(), batch["steps"][0][:4].tolist())']
      )
    );
    expect(expectOk(run).stdout).toBe('[2.0, 3.0, -1.0] [0.0, 2.0, -1.0, 6.0]\n');
  });

  it('are the only values that make a step import torch', async () => {
    const producer = stepSpec({
      step: 'make',
      code: [
        'import numpy as np\nbatch = {"x": np.ones(3), "ids": [1, 2], "nested": {"k": (1.5,)}}'
      ],
      outputs: ['batch']
    });
    expectOk(await scratch.run(producer));
    const manifest = json(join(scratch.data, 'make', 'batch', 'manifest.json'));
    expect(manifest).toMatchObject({ type: 'builtins.dict', backend: 'pickle' });
    const run = await scratch.run(use(['batch'], ['import sys\nprint("torch" in sys.modules)']));
    expect(expectOk(run).stdout).toBe('False\n');
  });

  it('load a module once a later cell of the consuming step defines its class', async () => {
    const producer = stepSpec({
      step: 'make',
      code: [
        IMPORTS,
        NET,
        'torch.manual_seed(1)\nmodel = TinyNet()\nprint(model(torch.ones(1, 3)).item())'
      ],
      outputs: ['model']
    });
    const made = expectOk(await scratch.run(producer)).stdout;
    const run = await scratch.run(
      use(
        ['model'],
        [IMPORTS, NET, 'print(type(model) is TinyNet, model(torch.ones(1, 3)).item())']
      )
    );
    expect(expectOk(run).stdout).toBe(`True ${made}`);
  });

  it('pass a module whose class only the producing step defines, the class by value', async () => {
    const producer = stepSpec({
      step: 'make',
      code: [
        IMPORTS,
        `${NET}\ntorch.manual_seed(3)\nmodel = TinyNet()\nprint(model(torch.ones(1, 3)).item())`
      ],
      outputs: ['model']
    });
    const made = expectOk(await scratch.run(producer)).stdout;
    const run = await scratch.run(
      use(['model'], [IMPORTS, 'print(type(model).__name__, model(torch.ones(1, 3)).item())'])
    );
    expect(expectOk(run).stdout).toBe(`TinyNet ${made}`);
    expect(json(join(scratch.data, 'make', 'model', 'manifest.json'))).toMatchObject({
      type: '__main__.TinyNet',
      backend: 'torch'
    });
  });

  it('pass a module holding a lambda with torch.save, the lambda by value', async () => {
    const producer = stepSpec({
      step: 'make',
      code: [
        IMPORTS,
        NET,
        'torch.manual_seed(2)\nmodel = TinyNet()\nmodel.post = lambda v: v * 2\n' +
          'print(model.post(model(torch.ones(1, 3))).item())'
      ],
      outputs: ['model']
    });
    const made = expectOk(await scratch.run(producer));
    expect(made.stderr).not.toMatch(/could not save/);
    const manifest = json(join(scratch.data, 'make', 'model', 'manifest.json'));
    expect(manifest).toMatchObject({ type: '__main__.TinyNet', backend: 'torch' });
    const run = await scratch.run(
      use(['model'], [IMPORTS, 'print(model.post(model(torch.ones(1, 3))).item())'])
    );
    expect(expectOk(run).stdout).toBe(made.stdout);
  });
});
