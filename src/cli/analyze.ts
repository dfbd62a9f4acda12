/** `chard analyze NOTEBOOK [--json] [--no-infer]`: the pipeline plan as a table or JSON. */
import { parseCommandArgs } from './args.js';
import { isCompilable } from '../core/plan.js';
import type { IPlan } from '../core/plan.js';
import { CommandError, formatDiagnostic } from './notebookfile.js';
import { runService, viaService } from './service.js';
import { renderTable } from './table.js';

export const ANALYZE_USAGE = `usage: chard analyze NOTEBOOK [--json] [--no-infer]

Show the pipeline Chard makes of a notebook: its steps, the variables flowing between them,
parameters, metrics and problems.
  --json       one JSON object on stdout (steps, edges, parameters, metrics, diagnostics)
  --no-infer   order steps by prev: tags only, as Kale does (no data-flow inference)`;

export async function analyzeCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs(argv, ANALYZE_USAGE, {
    json: { type: 'boolean' },
    'no-infer': { type: 'boolean' }
  });
  if (parsed.values.help) {
    process.stdout.write(`${ANALYZE_USAGE}\n`);
    return 0;
  }
  if (parsed.positionals.length !== 1) {
    throw new CommandError(ANALYZE_USAGE, 2);
  }
  const file = parsed.positionals[0];
  const plan = await viaService(() =>
    runService().analyze(file, { noInfer: parsed.values['no-infer'] === true })
  );
  if (parsed.values.json) {
    process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
  } else {
    process.stdout.write(formatPlan(plan, file));
  }
  return isCompilable(plan) ? 0 : 1;
}

/**
 * The human-readable report: a table of steps, then parameters, metrics and diagnostics. Cells
 * are numbered from 1, as JupyterLab shows them (`--json` keeps the plan's 0-based indices).
 */
export function formatPlan(plan: IPlan, file: string): string {
  const lines: string[] = [];
  lines.push(
    `Pipeline "${plan.pipeline.name}": ${plan.steps.length} step${plan.steps.length === 1 ? '' : 's'}` +
      (plan.proposed ? ' (proposed from the notebook headings: no step tags found)' : '')
  );
  lines.push('');
  lines.push(
    renderTable(
      ['step', 'cells', 'inputs', 'outputs', 'parents'],
      plan.steps.map(s => [
        s.name,
        s.cells.map(c => c + 1).join(','),
        [...s.inputs, ...s.parameters.map(p => `${p} (param)`)].join(', ') || '-',
        s.outputs.join(', ') || '-',
        s.parents.join(', ') || '-'
      ])
    )
  );
  if (plan.parameters.length > 0) {
    lines.push('');
    lines.push(
      `Parameters: ${plan.parameters.map(p => `${p.name}=${JSON.stringify(p.value)} (${p.type})`).join(', ')}`
    );
  }
  if (plan.metrics.length > 0) {
    lines.push('');
    lines.push(
      `Metrics: ${plan.metrics.map(m => `${m.name}${m.step ? ` (from ${m.step})` : ''}`).join(', ')}`
    );
  }
  if (plan.diagnostics.length > 0) {
    lines.push('');
    for (const d of plan.diagnostics) {
      lines.push(formatDiagnostic(file, d));
    }
  }
  return `${lines.join('\n')}\n`;
}
