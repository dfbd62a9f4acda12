/**
 * Analysis speed on a large notebook: 2,000 cells, ~40,000 lines. Prints full analysis time,
 * re-analysis time after one cell is edited (only that cell re-parsed) and peak memory.
 * Targets on a 2-core machine: full <= 500 ms, one-cell re-analysis <= 10 ms.
 */
import { NotebookAnalyzer } from '../src/core/analyze.js';
import type { INotebook, ICell } from '../src/core/notebook.js';

/** A realistic-looking cell of about `lines` lines defining and using a few variables. */
function cellSource(i: number, lines: number): string {
  const out: string[] = [`# step ${i}: feature engineering`];
  out.push(`frame_${i} = frame_${Math.max(0, i - 1)}.copy() if ${i} else load_table("t${i}.csv")`);
  out.push(`def transform_${i}(df, factor=${i % 7}):`);
  out.push(`    cols = [c for c in df.columns if c.startswith("f")]`);
  out.push(`    for c in cols:`);
  out.push(`        df[c] = df[c] * factor + OFFSET`);
  out.push(`    return df`);
  while (out.length < lines - 3) {
    const k = out.length;
    out.push(`value_${i}_${k} = sum(x ** 2 for x in range(${k})) + len(frame_${i}) * ${k}`);
  }
  out.push(`frame_${i} = transform_${i}(frame_${i})`);
  out.push(`%time stats_${i} = {"mean": frame_${i}.mean(), "n": len(frame_${i})}`);
  out.push(`history.append(stats_${i})`);
  return out.join('\n');
}

function makeNotebook(cells: number, linesPerCell: number): INotebook {
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
  let peak = process.memoryUsage().rss;
  const sample = (): void => {
    peak = Math.max(peak, process.memoryUsage().rss);
  };

  const fullTimes: number[] = [];
  let steps = 0;
  for (let r = 0; r < 5; r++) {
    const analyzer = new NotebookAnalyzer();
    const t0 = performance.now();
    const plan = analyzer.analyze(nb);
    fullTimes.push(performance.now() - t0);
    steps = plan.steps.length;
    sample();
  }

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
  console.log(`analysis: ${nb.cells.length} cells, ${lines} lines, ${steps} steps`);
  console.log(
    `  full analysis:            median ${median(fullTimes).toFixed(1)} ms (min ${Math.min(...fullTimes).toFixed(1)}, target <= 500 ms)`
  );
  console.log(
    `  re-analysis, 1 cell edit: median ${median(editTimes).toFixed(2)} ms (max ${Math.max(...editTimes).toFixed(2)}, target <= 10 ms)`
  );
  console.log(`  peak RSS:                 ${(peak / 1048576).toFixed(0)} MiB`);
}
