/**
 * Analysis speed on a large notebook: 2,000 cells, ~40,000 lines. Prints full analysis time,
 * re-analysis time after one cell is edited (only that cell re-parsed) and peak memory.
 * Targets on a 2-core machine: full <= 500 ms, one-cell re-analysis <= 10 ms.
 *
 * Full analysis is measured as `chard` runs it (cells parsed by the calling thread and the
 * worker threads of a `CellAnalysisPool` together), each round with an empty cell cache:
 * the first round includes starting the workers, the median is over the rounds after it.
 * The same analysis on the calling thread alone is printed beside it.
 */
import { NotebookAnalyzer } from '../src/core/analyze.js';
import { CellAnalysisPool } from '../src/server/analysis/pool.js';
import type { INotebook, ICell } from '../src/core/notebook.js';

/**
 * A cell of about `lines` lines in the style of data-science notebooks: comments and blank
 * lines, pandas and numpy calls, a helper function, a loop, an f-string print, a magic.
 */
function cellSource(i: number, lines: number): string {
  const prev = Math.max(0, i - 1);
  const out: string[] = [`# Stage ${i}: features from the previous table`];
  out.push(`frame_${i} = frame_${prev}.copy() if ${i} else load_table("t${i}.csv")`);
  out.push('');
  out.push(`def transform_${i}(df, factor=${i % 7}):`);
  out.push('    """Scale the feature columns."""');
  out.push('    cols = [c for c in df.columns if c.startswith("f")]');
  out.push('    for c in cols:');
  out.push('        df[c] = df[c] * factor + OFFSET');
  out.push('    return df');
  out.push('');
  const body = [
    (k: number) => `col_${k} = frame_${i}["f${k % 5}"].fillna(0)`,
    (k: number) => `ratio_${k} = col_${k - 1 > 0 ? k - 1 : k} / (frame_${i}["total"] + 1)`,
    (k: number) => `# check the distribution of f${k % 5}`,
    (k: number) => `print(f"stage ${i}: {len(frame_${i})} rows, col ${k}")`,
    () => '',
    (k: number) => `mask_${k} = frame_${i}["label"] == ${k % 3}`,
    (k: number) => `counts_${k} = frame_${i}[mask_${k - 1}].groupby("g").size()`,
    (k: number) => `arr_${k} = np.log1p(frame_${i}["f${k % 5}"].to_numpy())`
  ];
  for (let k = out.length; out.length < lines - 3; k++) {
    out.push(body[k % body.length](k));
  }
  out.push(`frame_${i} = transform_${i}(frame_${i})`);
  out.push(`%time stats_${i} = {"mean": frame_${i}.mean(), "n": len(frame_${i})}`);
  out.push(`history.append(stats_${i})`);
  return out.join('\n');
}

export function makeNotebook(cells: number, linesPerCell: number): INotebook {
  const list: ICell[] = [
    {
      cellType: 'code',
      source: 'import pandas as pd\nimport numpy as np\nOFFSET = 1',
      tags: ['imports']
    },
    {
      cellType: 'code',
      source: 'def load_table(p):\n    return pd.read_csv(p)\nhistory = []',
      tags: ['functions']
    }
  ];
  for (let i = 0; i < cells - 2; i++) {
    list.push({
      cellType: 'code',
      source: cellSource(i, linesPerCell),
      tags: i % 10 === 0 ? [`step:stage_${i / 10}`] : []
    });
  }
  return { nbformat: 4, nbformatMinor: 5, metadata: {}, cells: list };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function run(): Promise<void> {
  const nb = makeNotebook(2000, 20);
  const lines = nb.cells.reduce((n, c) => n + c.source.split('\n').length, 0);
  const chars = nb.cells.reduce((n, c) => n + c.source.length, 0);
  let peak = process.memoryUsage().rss;
  const sample = (): void => {
    peak = Math.max(peak, process.memoryUsage().rss);
  };

  const oneThread: number[] = [];
  let steps = 0;
  for (let r = 0; r < 5; r++) {
    const analyzer = new NotebookAnalyzer();
    const t0 = performance.now();
    const plan = analyzer.analyze(nb);
    oneThread.push(performance.now() - t0);
    steps = plan.steps.length;
    sample();
  }

  const pool = new CellAnalysisPool();
  const fullTimes: number[] = [];
  for (let r = 0; r < 6; r++) {
    const analyzer = new NotebookAnalyzer();
    const t0 = performance.now();
    await analyzer.analyzeWith(pool, nb);
    fullTimes.push(performance.now() - t0);
    sample();
  }
  await pool.dispose();
  const coldStart = fullTimes.shift()!;

  const analyzer = new NotebookAnalyzer();
  analyzer.analyze(nb);
  const editTimes: number[] = [];
  for (let r = 0; r < 30; r++) {
    const cells = nb.cells.slice();
    const at = 2 + ((r * 37) % (cells.length - 2));
    cells[at] = { ...cells[at], source: `${cells[at].source}\nedited_${r} = ${r}` };
    const edited = { ...nb, cells };
    const t0 = performance.now();
    analyzer.analyze(edited);
    editTimes.push(performance.now() - t0);
    sample();
  }
  console.log(
    `analysis: ${nb.cells.length} cells, ${lines} lines (${(chars / 1e6).toFixed(2)} MB, ${(chars / lines).toFixed(0)} characters a line), ${steps} steps`
  );
  console.log(
    `  full analysis:            median ${median(fullTimes).toFixed(1)} ms (min ${Math.min(...fullTimes).toFixed(1)}, target <= 500 ms), ` +
      `${pool.threads + 1} threads`
  );
  console.log(
    `    first call, starting ${pool.threads} worker thread${pool.threads === 1 ? '' : 's'}: ${coldStart.toFixed(1)} ms`
  );
  console.log(
    `    calling thread alone:   median ${median(oneThread).toFixed(1)} ms (min ${Math.min(...oneThread).toFixed(1)})`
  );
  console.log(
    `  re-analysis, 1 cell edit: median ${median(editTimes).toFixed(2)} ms (max ${Math.max(...editTimes).toFixed(2)}, target <= 10 ms)`
  );
  console.log(`  peak RSS:                 ${(peak / 1048576).toFixed(0)} MiB`);
}
