import { analyzeNotebook } from '../../src/core/analyze.js';
import { snapshotNotebook } from '../../src/lab/snapshot.js';
import { cellRole, setCellRole } from '../../src/lab/stepedit.js';
import { FakeCell, fakeNotebook } from './support.js';

describe('setCellRole (the step editor commands)', () => {
  it('Make Step writes step:NAME, never block:, and keeps tags Chard does not own', () => {
    const cell = new FakeCell('code', 'df = load()', [
      'hide-input',
      'block:old_name',
      'limit:memory:4Gi',
      'parameters'
    ]);
    expect(setCellRole([cell], { step: 'load data' })).toBe(1);
    expect(cell.getMetadata('tags')).toEqual([
      'step:load data',
      'hide-input',
      'limit:memory:4Gi',
      'parameters'
    ]);
  });

  it('renaming a step keeps its prev: parents', () => {
    const cell = new FakeCell('code', 'y = f(x)', ['step:train', 'prev:load', 'prev:clean']);
    setCellRole([cell], { step: 'fit' });
    expect(cell.getMetadata('tags')).toEqual(['step:fit', 'prev:load', 'prev:clean']);
  });

  it('the special roles replace the step tags and drop prev:', () => {
    const cell = new FakeCell('code', 'import os', ['step:a', 'prev:b', 'hide-input']);
    setCellRole([cell], 'imports');
    expect(cell.getMetadata('tags')).toEqual(['imports', 'hide-input']);
    setCellRole([cell], 'pipeline-parameters');
    expect(cell.getMetadata('tags')).toEqual(['pipeline-parameters', 'hide-input']);
    setCellRole([cell], 'skip');
    expect(cell.getMetadata('tags')).toEqual(['skip', 'hide-input']);
  });

  it('Clear removes only Chard tags, and deletes an emptied tag list', () => {
    const keeps = new FakeCell('code', 'x = 1', ['functions', 'hide-input']);
    const empties = new FakeCell('code', 'x = 1', ['step:a', 'prev:b']);
    expect(setCellRole([keeps, empties], 'continue')).toBe(2);
    expect(keeps.getMetadata('tags')).toEqual(['hide-input']);
    expect(empties.hasMetadata('tags')).toBe(false);
  });

  it('leaves markdown cells and unchanged cells alone (no write)', () => {
    const markdown = new FakeCell('markdown', '# Title', ['hide-input']);
    const already = new FakeCell('code', 'import os', ['imports']);
    const untagged = new FakeCell('code', 'x = 1');
    expect(setCellRole([markdown, already], 'imports')).toBe(0);
    expect(setCellRole([untagged], 'continue')).toBe(0);
    expect(markdown.writes + already.writes + untagged.writes).toBe(0);
    expect(markdown.getMetadata('tags')).toEqual(['hide-input']);
  });

  it('ignores non-string tags instead of failing', () => {
    const cell = new FakeCell('code', 'x = 1', ['keep', 42, null]);
    setCellRole([cell], { step: 'a' });
    expect(cell.getMetadata('tags')).toEqual(['step:a', 'keep']);
  });

  it('the edited notebook analyses into the steps the user asked for', () => {
    const cells = [
      new FakeCell('code', 'import pandas as pd'),
      new FakeCell('code', 'df = pd.read_csv("a.csv")'),
      new FakeCell('code', 'summary = df.describe()'),
      new FakeCell('code', 'print(summary)')
    ];
    setCellRole([cells[0]], 'imports');
    setCellRole([cells[1]], { step: 'load' });
    setCellRole([cells[2], cells[3]], { step: 'report' });
    const plan = analyzeNotebook(snapshotNotebook(fakeNotebook(cells)));
    expect(plan.proposed).toBe(false);
    expect(plan.steps.map(s => [s.name, s.cells, s.inputs, s.parents])).toEqual([
      ['load', [1], [], []],
      ['report', [2, 3], ['df'], ['load']]
    ]);
    expect(plan.imports.map(b => b.cell)).toEqual([0]);
  });
});

describe('cellRole', () => {
  it('reads the role the menus check-mark, legacy block: included', () => {
    expect(cellRole(new FakeCell('code', '', ['block:train']))).toEqual({ step: 'train' });
    expect(cellRole(new FakeCell('code', '', ['pipeline-metrics']))).toBe('pipeline-metrics');
    expect(cellRole(new FakeCell('code', ''))).toBe('continue');
  });
});
