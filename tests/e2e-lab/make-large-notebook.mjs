/* global process */
// Writes the large notebook of the end-to-end test: an `imports` cell, then CELLS code cells of
// about 20 lines each in the style of data-science notebooks (bench/analyze.ts's cells), a
// `step:stage_K` tag on every tenth one. Each cell reads the previous cell's table, so each
// step reads `frame_<last cell of the step before>` from the step before.
// usage: node make-large-notebook.mjs OUT.ipynb [CELLS]   (default 1500)
import fs from 'node:fs';

const [out, count = '1500'] = process.argv.slice(2);
const CELLS = Number(count);

function cellSource(i) {
  const prev = Math.max(0, i - 1);
  const lines = [`# Stage ${i}: features from the previous table`];
  lines.push(i === 0 ? 'frame_0 = pd.read_csv("t0.csv")' : `frame_${i} = frame_${prev}.copy()`);
  lines.push('');
  lines.push(`def transform_${i}(df, factor=${i % 7}):`);
  lines.push('    """Scale the feature columns."""');
  lines.push('    cols = [c for c in df.columns if c.startswith("f")]');
  lines.push('    for c in cols:');
  lines.push('        df[c] = df[c] * factor + OFFSET');
  lines.push('    return df');
  lines.push('');
  const body = [
    k => `col_${k} = frame_${i}["f${k % 5}"].fillna(0)`,
    k => `ratio_${k} = col_${k - 1} / (frame_${i}["total"] + 1)`,
    k => `# check the distribution of f${k % 5}`,
    k => `print(f"stage ${i}: {len(frame_${i})} rows, col ${k}")`,
    k => `mask_${k} = frame_${i}["label"] == ${k % 3}`,
    k => `counts_${k} = frame_${i}[mask_${k - 1}].groupby("g").size()`
  ];
  for (let k = 0; k < 8; k++) {
    lines.push(body[k % body.length](k));
  }
  lines.push(`frame_${i} = transform_${i}(frame_${i})`);
  lines.push(`%time stats_${i} = {"mean": frame_${i}.mean(), "n": len(frame_${i})}`);
  return lines.join('\n');
}

const code = (id, source, tags) => ({
  cell_type: 'code',
  execution_count: null,
  id,
  metadata: tags.length > 0 ? { tags } : {},
  outputs: [],
  source
});
const cells = [code('imports', 'import pandas as pd\nimport numpy as np\nOFFSET = 1', ['imports'])];
for (let i = 0; i < CELLS; i++) {
  cells.push(code(`cell-${i}`, cellSource(i), i % 10 === 0 ? [`step:stage_${i / 10}`] : []));
}
const notebook = {
  cells,
  metadata: {
    kernelspec: { display_name: 'Python 3', language: 'python', name: 'python3' },
    language_info: { name: 'python' }
  },
  nbformat: 4,
  nbformat_minor: 5
};
fs.writeFileSync(`${out}.tmp`, JSON.stringify(notebook, null, 1) + '\n');
fs.renameSync(`${out}.tmp`, out);
