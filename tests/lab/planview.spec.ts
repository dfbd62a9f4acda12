import { analyzeNotebook } from '../../src/core/analyze.js';
import { snapshotNotebook } from '../../src/lab/snapshot.js';
import {
  cellChips,
  cellRanges,
  planView,
  progressLabel,
  pythonLiteral,
  stepOfCell
} from '../../src/lab/planview.js';
import { parseCellTags } from '../../src/core/tags.js';
import { cellTags } from '../../src/lab/snapshot.js';
import { english, FakeCell, fakeNotebook } from './support.js';

/** A tagged churn notebook with a star import (warning) and a bad parameter (error). */
function churnPlan() {
  const cells = [
    new FakeCell('markdown', '# Churn'),
    new FakeCell('code', 'import pandas as pd', ['imports']),
    new FakeCell('code', 'TEST_SIZE = 0.25\nSEED = 7\nEPOCHS = 10.0', ['pipeline-parameters']),
    new FakeCell('code', 'df = pd.read_csv("churn.csv")', ['step:load_data']),
    new FakeCell('code', 'train = df.sample(frac=1 - TEST_SIZE, random_state=SEED)', [
      'step:split'
    ]),
    new FakeCell('code', 'test = df.drop(train.index)'),
    new FakeCell('code', 'from math import *\nmodel = train.mean()', ['step:train_model']),
    new FakeCell('code', 'accuracy = float((test > model).mean())', ['step:evaluate']),
    new FakeCell('code', 'print(accuracy)', ['pipeline-metrics'])
  ];
  return analyzeNotebook(snapshotNotebook(fakeNotebook(cells)), { fileName: 'churn.ipynb' });
}

describe('planView', () => {
  it('shows each step with its cells, inputs, outputs and parents as analysed', () => {
    const view = planView(churnPlan(), english);
    expect(view.proposed).toBe(false);
    expect(
      view.steps.map(s => ({
        name: s.name,
        cells: s.cellsLabel,
        first: s.firstCell,
        inputs: s.inputs,
        outputs: s.outputs,
        parents: s.parents
      }))
    ).toEqual([
      {
        name: 'load_data',
        cells: 'cell 4',
        first: 3,
        inputs: [],
        outputs: ['df'],
        parents: []
      },
      {
        name: 'split',
        cells: 'cells 5–6',
        first: 4,
        inputs: ['df'],
        outputs: ['test', 'train'],
        parents: ['load_data']
      },
      {
        name: 'train_model',
        cells: 'cell 7',
        first: 6,
        inputs: ['train'],
        outputs: ['model'],
        parents: ['split']
      },
      {
        name: 'evaluate',
        cells: 'cell 8',
        first: 7,
        inputs: ['model', 'test'],
        outputs: [],
        parents: ['split', 'train_model']
      }
    ]);
    expect(view.steps[1].parameters).toEqual(['SEED', 'TEST_SIZE']);
    expect(view.steps[3].metrics).toEqual(['accuracy']);
  });

  it('writes parameter defaults as Python does and names the step recording each metric', () => {
    const view = planView(churnPlan(), english);
    expect(view.parameters.map(p => `${p.name} = ${p.value} (${p.type})`)).toEqual([
      'TEST_SIZE = 0.25 (float)',
      'SEED = 7 (int)',
      'EPOCHS = 10.0 (float)'
    ]);
    expect(view.metrics).toEqual([{ name: 'accuracy', step: 'evaluate', cell: 8 }]);
  });

  it('places diagnostics on their cell and line, counts them per step and in the summary', () => {
    const view = planView(churnPlan(), english);
    expect(view.diagnostics).toHaveLength(1);
    expect(view.diagnostics[0]).toMatchObject({
      severity: 'warning',
      cell: 6,
      line: 1,
      location: 'cell 7, line 1', // index 6, numbered from 1 as JupyterLab shows it
      step: 'train_model'
    });
    expect(view.steps.find(s => s.name === 'train_model')).toMatchObject({
      errors: 0,
      warnings: 1
    });
    expect(view.summary).toBe('4 steps · 3 parameters · 1 metric · 0 errors · 1 warning');
  });

  it('shows a name nothing provides, and a shared mutation, on the cell and line of the step', () => {
    const cells = [
      new FakeCell('code', 'results = []', ['step:setup']),
      new FakeCell('code', 'results.append(1)', ['step:left']),
      new FakeCell('code', 'x = 2\nresults.append(x + missing)', ['step:right'])
    ];
    const view = planView(analyzeNotebook(snapshotNotebook(fakeNotebook(cells))), english);
    expect(view.diagnostics.map(d => [d.location, d.step, d.message])).toEqual([
      ['cell 3, line 2', 'right', expect.stringMatching(/^`missing` is not defined/)],
      [
        'cell 3, line 2',
        'right',
        expect.stringMatching(/^steps "left" and "right" both change `results`/)
      ]
    ]);
    expect(view.summary).toBe('3 steps · 0 parameters · 0 metrics · 0 errors · 2 warnings');
  });

  it("shows a wrong notebook setting as the notebook's error, and an old spelling as a warning, before any run", () => {
    const cells = [new FakeCell('code', 'x = 1', ['step:one'])];
    const metadata = { chard: { retryLimit: -2, snapshot_class: 'csi-snapclass' } };
    const plan = analyzeNotebook(snapshotNotebook(fakeNotebook(cells, metadata)));
    const view = planView(plan, english);
    expect(view.diagnostics.map(d => [d.severity, d.location, d.step, d.message])).toEqual([
      [
        'error',
        'notebook',
        null,
        'notebook metadata `chard.retryLimit` must be a whole number of at least 0, not -2'
      ],
      ['warning', 'notebook', null, expect.stringMatching(/`chard\.snapshot_class`.*snapshotClass/)]
    ]);
    expect(view.summary).toBe('1 step · 0 parameters · 0 metrics · 1 error · 1 warning');
    expect(plan.pipeline.chard).toEqual({ snapshotClass: 'csi-snapclass' });
  });

  it('lists errors before warnings, each in notebook order', () => {
    const plan = churnPlan();
    plan.diagnostics = [
      { severity: 'warning', cell: 2, line: 1, message: 'w2' },
      { severity: 'error', cell: 7, line: 3, message: 'e7' },
      { severity: 'error', cell: null, line: null, message: 'notebook-wide' },
      { severity: 'error', cell: 4, line: null, message: 'e4' }
    ];
    const view = planView(plan, english);
    expect(view.diagnostics.map(d => [d.message, d.location])).toEqual([
      ['notebook-wide', 'notebook'],
      ['e4', 'cell 5'],
      ['e7', 'cell 8, line 3'],
      ['w2', 'cell 3, line 1']
    ]);
    expect(view.errors).toBe(3);
    expect(view.steps.find(s => s.name === 'evaluate')?.errors).toBe(1);
  });

  it('marks a notebook without step tags as a proposed plan from its headings', () => {
    const cells = [
      new FakeCell('markdown', '# Load the data'),
      new FakeCell('code', 'sales = [1, 2, 3]'),
      new FakeCell('markdown', '## Fit a trend'),
      new FakeCell('code', 'slope = sales[-1] - sales[0]')
    ];
    const view = planView(analyzeNotebook(snapshotNotebook(fakeNotebook(cells))), english);
    expect(view.proposed).toBe(true);
    expect(view.steps.map(s => [s.name, s.inputs])).toEqual([
      ['load_the_data', []],
      ['fit_a_trend', ['sales']]
    ]);
  });

  it('goes through the translator for every label', () => {
    const upper = {
      __: (msgid: string, ...args: unknown[]) => english.__(msgid.toUpperCase(), ...args),
      _n: (s: string, p: string, n: number, ...args: unknown[]) =>
        english._n(s.toUpperCase(), p.toUpperCase(), n, ...args)
    };
    const view = planView(churnPlan(), upper);
    expect(view.summary).toBe('4 STEPS · 3 PARAMETERS · 1 METRIC · 0 ERRORS · 1 WARNING');
    expect(view.steps[1].cellsLabel).toBe('CELLS 5–6');
    expect(view.diagnostics[0].location).toBe('CELL 7, LINE 1');
  });
});

describe('helpers', () => {
  it('cellRanges compresses consecutive cells and numbers them from 1', () => {
    expect(cellRanges([7, 0, 1, 2, 5, 2])).toBe('1–3, 6, 8');
    expect(cellRanges([])).toBe('');
  });

  it('pythonLiteral writes bools, strings and whole floats the Python way', () => {
    expect(pythonLiteral(true, 'bool')).toBe('True');
    expect(pythonLiteral('a "b"', 'str')).toBe('"a \\"b\\""');
    expect(pythonLiteral(3, 'float')).toBe('3.0');
    expect(pythonLiteral(3, 'int')).toBe('3');
  });

  it('stepOfCell maps every step cell to its step', () => {
    const owner = stepOfCell(churnPlan());
    expect([3, 4, 5, 6, 7, 8].map(c => owner.get(c) ?? null)).toEqual([
      'load_data',
      'split',
      'split',
      'train_model',
      'evaluate',
      null
    ]);
  });

  it('progressLabel counts the cells being analysed and the share done', () => {
    expect(progressLabel({ cells: 1501, done: 600, inWorkers: 600 }, english)).toBe(
      'Analysing 1501 cells… 39%'
    );
    expect(progressLabel({ cells: 1, done: 0, inWorkers: 0 }, english)).toBe(
      'Analysing 1 cell… 0%'
    );
  });
});

describe('cellChips', () => {
  const chipsOf = (cells: FakeCell[]): unknown[] => {
    const plan = analyzeNotebook(snapshotNotebook(fakeNotebook(cells)));
    const roles = cells.map(c => ({ type: c.type, role: parseCellTags(cellTags(c)).role }));
    return cellChips(plan, roles, 6).map(c => c && [c.kind, c.step, c.colour, c.tagged]);
  };

  it("names each code cell's step (in the step's colour) or its kind; untagged cells show what they join", () => {
    const cells = [
      new FakeCell('markdown', '# Title'),
      new FakeCell('code', 'import os', ['imports']),
      new FakeCell('code', 'import sys'),
      new FakeCell('code', 'N = 3', ['pipeline-parameters']),
      new FakeCell('code', 'x = N', ['step:load']),
      new FakeCell('code', 'y = x + 1'),
      new FakeCell('code', 'print(y)', ['skip']),
      new FakeCell('code', 'z = y * 2', ['step:double']),
      new FakeCell('code', 'print(z)', ['pipeline-metrics'])
    ];
    expect(chipsOf(cells)).toEqual([
      null,
      ['imports', null, null, true],
      ['imports', null, null, false],
      ['pipeline-parameters', null, null, true],
      ['step', 'load', 0, true],
      ['step', 'load', 0, false],
      ['skip', null, null, true],
      ['step', 'double', 1, true],
      ['pipeline-metrics', null, null, true]
    ]);
  });

  it('a cell before the first tag is in no step', () => {
    const cells = [new FakeCell('code', 'x = 1'), new FakeCell('code', 'y = x', ['step:a'])];
    expect(chipsOf(cells)).toEqual([
      ['none', null, null, false],
      ['step', 'a', 0, true]
    ]);
  });
});
