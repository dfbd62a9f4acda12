/**
 * The step editor's edits and the live plan on JupyterLab's real shared notebook model: one
 * undo step per edit, renames carrying `prev:` along, several cells at once, foreign tags
 * kept, and opening/analysing a notebook leaving it unmodified.
 */
import { NotebookPlan } from '../../src/lab/notebookplan.js';
import { actionTargets, editCells } from '../../src/lab/stepedit.js';
import { ModelNotebook } from './ymodel.js';

afterEach(() => ModelNotebook.disposeAll());

function churn(): ModelNotebook {
  return new ModelNotebook([
    ['markdown', '# Churn'],
    ['code', 'import pandas as pd', ['imports']],
    ['code', 'df = pd.DataFrame({"a": [1]})', ['step:load_data', 'hide-input']],
    ['code', 'train = df.sample(frac=0.5)', ['step:split', 'prev:load_data']],
    ['code', 'model = train.mean()', ['step:train_model', 'prev:load_data', 'prev:split']],
    ['code', 'print(model)', ['parameters']]
  ]);
}

describe('editCells on a real notebook model', () => {
  it('renaming a step rewrites every prev: naming it, in one transaction that one undo reverts', () => {
    const nb = churn();
    const before = nb.tags();
    let result = editCells([], [], { role: 'skip' });
    nb.sharedModel.transact(() => {
      result = editCells(nb.cells, [2], { role: { step: 'load' } });
    });
    expect(result).toEqual({ changed: [2, 3, 4], renamed: ['load_data'], prevUpdated: [3, 4] });
    expect(nb.tags().slice(2, 5)).toEqual([
      ['step:load', 'hide-input'],
      ['step:split', 'prev:load'],
      ['step:train_model', 'prev:load', 'prev:split']
    ]);
    expect(nb.sharedModel.canUndo()).toBe(true);
    nb.sharedModel.undo();
    expect(nb.tags()).toEqual(before);
    expect(nb.sharedModel.canUndo()).toBe(false);
  });

  it('moving one cell of a step to a new step is not a rename: prev: stays', () => {
    const nb = new ModelNotebook([
      ['code', 'x = 1', ['step:a']],
      ['code', 'y = x + 1'],
      ['code', 'z = y', ['step:c', 'prev:a']]
    ]);
    const result = editCells(nb.cells, [1], { role: { step: 'b' } });
    expect(result).toEqual({ changed: [1], renamed: [], prevUpdated: [] });
    expect(nb.tags()).toEqual([['step:a'], ['step:b'], ['step:c', 'prev:a']]);
  });

  it('several selected cells change at once; markdown cells and foreign tags are left alone', () => {
    const nb = new ModelNotebook([
      ['code', 'a = 1', ['hide-input', 'step:old']],
      ['markdown', '# Notes', ['hide-input']],
      ['code', 'b = a', ['papermill-x', 'limit:memory:4Gi']]
    ]);
    nb.sharedModel.transact(() => {
      editCells(nb.cells, [0, 1, 2], { role: { step: 'prep' } });
    });
    expect(nb.tags()).toEqual([
      ['step:prep', 'hide-input'],
      ['hide-input'],
      ['step:prep', 'papermill-x', 'limit:memory:4Gi']
    ]);
    nb.sharedModel.undo();
    expect(nb.tags()).toEqual([
      ['hide-input', 'step:old'],
      ['hide-input'],
      ['papermill-x', 'limit:memory:4Gi']
    ]);
  });

  it('the step editor sets prev:, limits, image and cache on the first cell, replacing old values', () => {
    const nb = new ModelNotebook([
      ['code', 'a = 1', ['step:train', 'limit:cpu:1', 'image:old', 'keep-me']],
      ['code', 'b = a']
    ]);
    editCells(nb.cells, [0, 1], {
      role: { step: 'train' },
      prev: ['load'],
      resources: {
        limits: { 'nvidia.com/gpu': '1', cpu: null, memory: '8Gi' },
        image: 'python:3.12',
        cache: false
      }
    });
    expect(nb.tags()).toEqual([
      [
        'step:train',
        'prev:load',
        'image:python:3.12',
        'keep-me',
        'limit:nvidia.com/gpu:1',
        'limit:memory:8Gi',
        'cache:disabled'
      ],
      ['step:train', 'prev:load']
    ]);
  });

  it('an edit that changes nothing writes nothing (no undo step, not dirty)', () => {
    const nb = churn();
    const result = editCells(nb.cells, [1], { role: 'imports' });
    expect(result.changed).toEqual([]);
    expect(nb.dirty).toBe(false);
    expect(nb.sharedModel.canUndo()).toBe(false);
  });
});

describe('actionTargets (right-click and chips)', () => {
  it('applies to the cell pointed at unless the selection holds it', () => {
    expect(actionTargets(7, [4])).toEqual([7]);
    expect(actionTargets(5, [4, 5, 6])).toEqual([4, 5, 6]);
    expect(actionTargets(null, [2, 3])).toEqual([2, 3]);
  });
});

describe('opening a notebook', () => {
  it('analysing it (the sidebar, the DAG, the chips read the plan) leaves the model unmodified', async () => {
    const nb = churn();
    const live = new NotebookPlan({ model: nb, fileName: () => 'churn.ipynb', debounce: 0 });
    const plan = await live.update();
    expect(plan?.steps.map(s => s.name)).toEqual(['load_data', 'split', 'train_model']);
    live.refresh();
    live.states.set({ split: 'running' });
    await new Promise(resolve => setTimeout(resolve, 20));
    expect(nb.dirty).toBe(false);
    expect(nb.sharedModel.canUndo()).toBe(false);
    live.dispose();
  });
});
