/** `chard analyze` as a user runs it: the built CLI in a child process. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotebookAnalyzer } from '../../src/core/analyze.js';
import { parseNotebook } from '../../src/core/notebook.js';

const CHARD = join(process.cwd(), 'bin/chard.js');
const NOTEBOOKS = join(process.cwd(), 'tests/fixtures/notebooks');

function chard(...args: string[]) {
  const r = spawnSync(process.execPath, [CHARD, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('chard analyze', () => {
  it('prints a table of steps with their inputs, outputs and parents', () => {
    const r = chard('analyze', join(NOTEBOOKS, 'tabular.ipynb'));
    expect(r.code).toBe(0);
    const row = r.stdout.split('\n').find(l => l.startsWith('train_gbm'));
    // Cell index 10 is "11" in the table: cells are numbered from 1, as JupyterLab shows them.
    expect(row).toMatch(
      /^train_gbm\s+11\s+X_test, X_train, y_test, y_train, SEED \(param\)\s+acc_gbm\s+preprocess$/
    );
    expect(r.stdout).toContain(
      'Metrics: best_accuracy (from results), acc_logreg (from train_logreg)'
    );
  });

  it('prints one JSON object with --json', () => {
    const r = chard('analyze', join(NOTEBOOKS, 'training.ipynb'), '--json');
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.steps.map((s: { name: string }) => s.name)).toEqual([
      'make_data',
      'normalize_data',
      'inspect',
      'train',
      'report'
    ]);
    expect(plan.edges).toContainEqual({
      from: 'train',
      to: 'report',
      names: ['history', 'weights']
    });
    expect(plan.diagnostics).toEqual([]);
  });

  it('exits 1 with diagnostics naming cell and line when the notebook has errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chard-cli-'));
    const file = join(dir, 'broken.ipynb');
    writeFileSync(
      file,
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 5,
        metadata: {},
        cells: [
          { cell_type: 'code', metadata: { tags: ['step:a'] }, source: 'x = 1', outputs: [] },
          {
            cell_type: 'code',
            metadata: { tags: ['step:b'] },
            source: 'y = x +\nz = 2',
            outputs: []
          }
        ]
      })
    );
    const r = chard('analyze', file);
    expect(r.code).toBe(1);
    // The second cell is "cell 2" to the user (numbered from 1), index 1 in the JSON plan.
    expect(r.stdout).toContain(`${file}: cell 2, line 1: error: syntax error`);
    const json = JSON.parse(chard('analyze', file, '--json').stdout);
    expect(json.diagnostics).toEqual([
      expect.objectContaining({ severity: 'error', cell: 1, line: 1 })
    ]);
  });

  it('reports bad notebook settings on the notebook, in text and JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chard-cli-'));
    const file = join(dir, 'settings.ipynb');
    writeFileSync(
      file,
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 5,
        metadata: { chard: { retryLimit: -2, snapshot_class: 'csi' } },
        cells: [{ cell_type: 'code', metadata: { tags: ['step:a'] }, source: 'x = 1', outputs: [] }]
      })
    );
    const r = chard('analyze', file);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `${file}: error: notebook metadata \`chard.retryLimit\` must be a whole number of at least 0, not -2`
    );
    expect(r.stdout).toContain(
      `${file}: warning: notebook metadata \`chard.snapshot_class\` is deprecated: rename it to \`chard.snapshotClass\``
    );
    const json = JSON.parse(chard('analyze', file, '--json').stdout);
    expect(json.diagnostics).toEqual([
      expect.objectContaining({ severity: 'error', cell: null, line: null }),
      expect.objectContaining({ severity: 'warning', cell: null, line: null })
    ]);
    expect(json.pipeline.chard).toEqual({ snapshotClass: 'csi' });
  });

  it('reports an unreadable notebook in one line, without a stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chard-cli-'));
    writeFileSync(join(dir, 'bad.ipynb'), '{"cells": [');
    for (const [file, message] of [
      [join(dir, 'bad.ipynb'), 'not valid JSON'],
      [join(dir, 'missing.ipynb'), 'no such file']
    ]) {
      const r = chard('analyze', file);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(file);
      expect(r.stderr).toContain(message);
    }
  });

  it('exits 2 on a usage error', () => {
    expect(chard('analyze').code).toBe(2);
    expect(chard('analyze', 'a.ipynb', '--bogus').code).toBe(2);
    expect(chard('frobnicate').code).toBe(2);
  });

  it('analyses a large notebook on several threads into the same plan as one thread makes', () => {
    // About 250 kB of Python: big enough for the CLI to hand cells to its worker threads.
    const cells = [];
    for (let i = 0; i < 600; i++) {
      const lines = [`frame_${i} = frame_${Math.max(0, i - 3)}.copy() if ${i} else load()`];
      for (let k = 0; k < 10; k++) {
        lines.push(`col_${i}_${k} = frame_${i}["f${k}"].fillna(0) * ${k} + helper(${k})`);
      }
      lines.push(i % 97 === 5 ? 'broken = (1,' : `history.append(col_${i}_3)`);
      cells.push({
        cell_type: 'code',
        execution_count: null,
        outputs: [],
        metadata: { tags: i % 12 === 0 ? [`step:stage_${i / 12}`] : [] },
        source: lines.join('\n')
      });
    }
    cells.unshift({
      cell_type: 'code',
      execution_count: null,
      outputs: [],
      metadata: { tags: ['functions'] },
      source: 'def load():\n    return make()\ndef helper(k):\n    return k * SCALE\nhistory = []'
    });
    const text = JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells });
    const file = join(mkdtempSync(join(tmpdir(), 'chard-big-')), 'big.ipynb');
    writeFileSync(file, text);
    const r = chard('analyze', file, '--json');
    expect(r.code).toBe(1); // the broken cells are errors
    const expected = new NotebookAnalyzer().analyze(parseNotebook(text, file), { fileName: file });
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(JSON.stringify(expected)));
    expect(expected.steps).toHaveLength(50);
    expect(expected.diagnostics.filter(d => d.severity === 'error').map(d => d.cell)).toEqual([
      6, 103, 200, 297, 394, 491, 588
    ]);
  });
});
