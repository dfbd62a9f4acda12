import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { chunkStarts, NotebookAnalyzer } from '../../../src/core/analyze.js';
import type { ICellAnalysisService } from '../../../src/core/analyze.js';
import type { INotebook } from '../../../src/core/notebook.js';
import { analyzeCell } from '../../../src/core/python/scopes.js';
import { CellAnalysisPool } from '../../../src/server/analysis/pool.js';
import { loadNotebook, NOTEBOOKS } from '../../core/fixtures.js';

/** The compiled worker (`npm test` builds before jest runs). */
const WORKER = new URL(`file://${join(process.cwd(), 'lib/src/server/analysis/worker.js')}`);

/** Every code cell of the fixture notebooks, 20 times over with a distinct line each time, plus cells that do not parse. */
function manyCells(): string[] {
  const cells = readdirSync(NOTEBOOKS)
    .filter(f => f.endsWith('.ipynb'))
    .flatMap(f => loadNotebook(f).cells.filter(c => c.cellType === 'code'))
    .map(c => c.source);
  const broken = [
    'def f(:\n    pass',
    'x = (1,\ny = 2',
    'from m import *\nz = w',
    '%%bash\necho $x',
    ''
  ];
  const out: string[] = [];
  for (let round = 0; round < 20; round++) {
    out.push(...[...cells, ...broken].map(s => `${s}\nround_${round} = ${round}`));
  }
  return out;
}

describe('CellAnalysisPool', () => {
  it('gives exactly what analyzing each cell on the calling thread gives, in the same order', async () => {
    const sources = manyCells();
    const pool = new CellAnalysisPool({ threads: 1, minChars: 0, workerUrl: WORKER });
    try {
      await pool.analyzeCells(sources.slice(0, 10)); // starts the worker
      // The calling thread and the worker race for chunks: repeat until the worker has had some.
      for (let round = 0; round < 20; round++) {
        const fromPool = await pool.analyzeCells(sources);
        expect(fromPool).toEqual(sources.map(analyzeCell));
        if (pool.lastBatch.byWorkers > 0) {
          break;
        }
      }
      expect(pool.started).toBe(1);
      expect(pool.lastBatch.byWorkers).toBeGreaterThan(0);
      expect(pool.lastBatch.byWorkers).toBeLessThan(pool.lastBatch.chunks);
    } finally {
      await pool.dispose();
    }
  });

  it('starts no thread for a small batch', async () => {
    const pool = new CellAnalysisPool({ threads: 2, workerUrl: WORKER });
    const sources = ['x = 1', 'y = x + 1'];
    expect(await pool.analyzeCells(sources)).toEqual(sources.map(analyzeCell));
    expect(pool.started).toBe(0);
    await pool.dispose();
  });

  it('still answers when its workers cannot start, and forgets them', async () => {
    const missing = new URL(`file://${join(process.cwd(), 'lib/no-such-worker.js')}`);
    const pool = new CellAnalysisPool({ threads: 2, minChars: 0, workerUrl: missing });
    const sources = manyCells();
    try {
      expect(await pool.analyzeCells(sources)).toEqual(sources.map(analyzeCell));
      await new Promise(resolve => setTimeout(resolve, 500)); // the workers' start fails meanwhile
      expect(pool.started).toBe(0);
      expect(await pool.analyzeCells(sources.slice(0, 50))).toEqual(
        sources.slice(0, 50).map(analyzeCell)
      );
      // After a few lost workers in a row, the pool stops starting new ones.
      for (let batch = 0; batch < 3; batch++) {
        await new Promise(resolve => setTimeout(resolve, 300));
        await pool.analyzeCells(sources);
      }
      await new Promise(resolve => setTimeout(resolve, 300));
      await pool.analyzeCells(sources);
      expect(pool.started).toBe(0);
    } finally {
      await pool.dispose();
    }
  });

  it('cuts a batch into consecutive chunks that cover every cell once', () => {
    const sources = ['a'.repeat(10), 'b'.repeat(100), 'c', 'd'.repeat(5), 'e'.repeat(30)];
    // A chunk closes once it holds chunkChars characters (each source counts one more).
    expect(chunkStarts(sources, 20)).toEqual([0, 2]);
    expect(chunkStarts(sources, 5)).toEqual([0, 1, 2, 4]);
    expect(chunkStarts(sources, 1000)).toEqual([0]);
    expect(chunkStarts([], 20)).toEqual([]);
  });
});

describe('NotebookAnalyzer.analyzeWith', () => {
  /** A service that records what it is asked, and answers like the calling thread would. */
  class Recorder implements ICellAnalysisService {
    readonly batches: string[][] = [];
    analyzeCells(sources: readonly string[]) {
      this.batches.push([...sources]);
      return Promise.resolve(sources.map(analyzeCell));
    }
  }

  it('hands only the cells it has not analysed yet to the service, and plans as analyze does', async () => {
    const nb = loadNotebook('tabular.ipynb');
    const analyzer = new NotebookAnalyzer();
    const recorder = new Recorder();
    const plan = await analyzer.analyzeWith(recorder, nb, { fileName: 'tabular.ipynb' });
    expect(plan).toEqual(new NotebookAnalyzer().analyze(nb, { fileName: 'tabular.ipynb' }));
    const codeCells = new Set(nb.cells.filter(c => c.cellType === 'code').map(c => c.source));
    expect(recorder.batches).toHaveLength(1);
    expect(new Set(recorder.batches[0])).toEqual(codeCells);

    const at = nb.cells.findIndex(c => c.cellType === 'code' && c.tags.length === 0);
    const cells = nb.cells.slice();
    cells[at] = { ...cells[at], source: `${cells[at].source}\nextra = 1` };
    const edited: INotebook = { ...nb, cells };
    await analyzer.analyzeWith(recorder, edited, { fileName: 'tabular.ipynb' });
    expect(recorder.batches[1]).toEqual([cells[at].source]);

    await analyzer.analyzeWith(recorder, edited, { fileName: 'tabular.ipynb' });
    expect(recorder.batches).toHaveLength(2);
  });
});
