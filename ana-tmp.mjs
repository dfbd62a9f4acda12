import { readFileSync } from 'node:fs';
import { parseNotebook } from '/work/wt/analysis/lib/src/core/notebook.js';
import { analyzeNotebook } from '/work/wt/analysis/lib/src/core/analyze.js';
for (const f of process.argv.slice(2)) {
  const plan = analyzeNotebook(parseNotebook(readFileSync(f, 'utf8'), f));
  console.log(f, plan.steps.length, JSON.stringify(plan.diagnostics).slice(0, 600));
}
