/**
 * The plan as the Pipeline sidebar shows it: plain data derived from core's `IPlan`, with every
 * label translated. No DOM here, so the view logic is tested without a browser.
 */
import type { IDiagnostic, IParameter, IPlan, ParameterValue } from '../core/plan.js';
import type { IAnalysisProgress } from './analysisworkers.js';

/** The part of JupyterLab's `TranslationBundle` this module uses. */
export interface ITranslate {
  __(msgid: string, ...args: unknown[]): string;
  _n(singular: string, plural: string, n: number, ...args: unknown[]): string;
}

export interface IStepView {
  name: string;
  /** 0-based notebook cell indices (the plan's). */
  cells: number[];
  /** e.g. "cells 2–4, 7": numbered from 1, as JupyterLab and `chard analyze` show cells. */
  cellsLabel: string;
  /** The cell a click on the step selects (its first cell), or null for an empty step. */
  firstCell: number | null;
  inputs: string[];
  outputs: string[];
  parents: string[];
  parameters: string[];
  metrics: string[];
  /** Number of error diagnostics pointing into the step's cells. */
  errors: number;
  warnings: number;
}

export interface IParameterView {
  name: string;
  /** The default value as Python writes it. */
  value: string;
  type: string;
  cell: number;
}

export interface IMetricView {
  name: string;
  /** The step recording the metric, or null when none does. */
  step: string | null;
  cell: number;
}

export interface IDiagnosticView extends IDiagnostic {
  /** e.g. "cell 3, line 2" (cells numbered from 1) or "notebook". */
  location: string;
  /** The step the cell belongs to, if any. */
  step: string | null;
}

export interface IPlanView {
  /** No step tags: the steps were proposed from the markdown headings. */
  proposed: boolean;
  /** e.g. "3 steps · 2 parameters · 1 error". */
  summary: string;
  steps: IStepView[];
  parameters: IParameterView[];
  metrics: IMetricView[];
  /** Errors first, then warnings; each group in notebook order. */
  diagnostics: IDiagnosticView[];
  errors: number;
  warnings: number;
}

/** Cell numbers as users see them, from 1 (cell index 0 is "cell 1"). */
export function cellNumber(index: number): number {
  return index + 1;
}

/** "1–3, 6" for the 0-based indices [0, 1, 2, 5]: numbered from 1, as JupyterLab shows cells. */
export function cellRanges(cells: readonly number[]): string {
  const sorted = [...new Set(cells)].sort((a, b) => a - b).map(cellNumber);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) {
      j++;
    }
    parts.push(j === i ? `${sorted[i]}` : `${sorted[i]}–${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(', ');
}

/** A parameter's default value as the notebook's Python writes it. */
export function pythonLiteral(value: ParameterValue, type: IParameter['type']): string {
  if (typeof value === 'boolean') {
    return value ? 'True' : 'False';
  }
  if (typeof value === 'string') {
    return JSON.stringify(value);
  }
  if (type === 'float' && Number.isInteger(value)) {
    return `${value}.0`;
  }
  return String(value);
}

/** For each notebook cell index, the step it belongs to. */
export function stepOfCell(plan: IPlan): Map<number, string> {
  const map = new Map<number, string>();
  for (const step of plan.steps) {
    for (const cell of step.cells) {
      map.set(cell, step.name);
    }
  }
  return map;
}

/** Where a diagnostic points, as the user reads it: "notebook", "cell 3" or "cell 3, line 2". */
export function diagnosticLocation(d: IDiagnostic, trans: ITranslate): string {
  if (d.cell === null) {
    return trans.__('notebook');
  }
  return d.line === null
    ? trans.__('cell %1', cellNumber(d.cell))
    : trans.__('cell %1, line %2', cellNumber(d.cell), d.line);
}

export function planView(plan: IPlan, trans: ITranslate): IPlanView {
  const owner = stepOfCell(plan);
  const counts = new Map<string, { errors: number; warnings: number }>();
  for (const d of plan.diagnostics) {
    const step = d.cell === null ? undefined : owner.get(d.cell);
    if (step !== undefined) {
      const c = counts.get(step) ?? { errors: 0, warnings: 0 };
      if (d.severity === 'error') {
        c.errors++;
      } else {
        c.warnings++;
      }
      counts.set(step, c);
    }
  }
  const steps = plan.steps.map((s): IStepView => {
    const c = counts.get(s.name) ?? { errors: 0, warnings: 0 };
    return {
      name: s.name,
      cells: [...s.cells],
      cellsLabel: trans._n('cell %2', 'cells %2', s.cells.length, cellRanges(s.cells)),
      firstCell: s.cells.length > 0 ? Math.min(...s.cells) : null,
      inputs: [...s.inputs],
      outputs: [...s.outputs],
      parents: [...s.parents],
      parameters: [...s.parameters],
      metrics: [...s.metrics],
      errors: c.errors,
      warnings: c.warnings
    };
  });
  const rank = (d: IDiagnostic): number => (d.severity === 'error' ? 0 : 1);
  const diagnostics = plan.diagnostics
    .map((d, order) => ({ d, order }))
    .sort(
      (a, b) =>
        rank(a.d) - rank(b.d) ||
        (a.d.cell ?? -1) - (b.d.cell ?? -1) ||
        (a.d.line ?? 0) - (b.d.line ?? 0) ||
        a.order - b.order
    )
    .map(({ d }): IDiagnosticView => ({
      ...d,
      location: diagnosticLocation(d, trans),
      step: d.cell === null ? null : (owner.get(d.cell) ?? null)
    }));
  const errors = plan.diagnostics.filter(d => d.severity === 'error').length;
  const warnings = plan.diagnostics.length - errors;
  const summary = [
    trans._n('%1 step', '%1 steps', plan.steps.length),
    trans._n('%1 parameter', '%1 parameters', plan.parameters.length),
    trans._n('%1 metric', '%1 metrics', plan.metrics.length),
    trans._n('%1 error', '%1 errors', errors),
    trans._n('%1 warning', '%1 warnings', warnings)
  ].join(' · ');
  return {
    proposed: plan.proposed,
    summary,
    steps,
    parameters: plan.parameters.map(p => ({
      name: p.name,
      value: pythonLiteral(p.value, p.type),
      type: p.type,
      cell: p.cell
    })),
    metrics: plan.metrics.map(m => ({ name: m.name, step: m.step, cell: m.cell })),
    diagnostics,
    errors,
    warnings
  };
}

/** The sidebar's line while a large batch of cells is analysed in Web Workers. */
export function progressLabel(progress: IAnalysisProgress, trans: ITranslate): string {
  const percent = progress.cells > 0 ? Math.floor((100 * progress.done) / progress.cells) : 100;
  return trans._n('Analysing %1 cell… %2%', 'Analysing %1 cells… %2%', progress.cells, percent);
}

/** What a code cell's chip shows: its step, or the kind of cell it is. */
export interface ICellChip {
  kind:
    'step' | 'imports' | 'functions' | 'pipeline-parameters' | 'pipeline-metrics' | 'skip' | 'none';
  /** For `step`: the step's name. */
  step: string | null;
  /** For `step`: the step's colour (its position in the plan). */
  colour: number | null;
  /** The cell's own tags say so (else it joins the step or block above, or is proposed). */
  tagged: boolean;
}

/**
 * The chip of every cell (null for markdown and raw cells), from the plan and the cells' roles
 * (`roles[i]` from the cell's tags, see `parseCellTags`). An untagged cell shows what it joins.
 */
export function cellChips(
  plan: IPlan,
  cells: readonly { type: string; role: string }[],
  colours: number
): (ICellChip | null)[] {
  const owner = stepOfCell(plan);
  const index = new Map(plan.steps.map((s, i) => [s.name, i]));
  const imports = new Set(plan.imports.map(b => b.cell));
  const functions = new Set(plan.functions.map(b => b.cell));
  let block: ICellChip['kind'] | null = null;
  return cells.map((cell, i): ICellChip | null => {
    if (cell.type !== 'code') {
      return null;
    }
    const step = owner.get(i) ?? null;
    const stepChip = (tagged: boolean): ICellChip => ({
      kind: 'step',
      step,
      colour: step === null ? null : (index.get(step) ?? 0) % colours,
      tagged
    });
    switch (cell.role) {
      case 'skip':
        return { kind: 'skip', step: null, colour: null, tagged: true };
      case 'imports':
      case 'functions':
      case 'pipeline-parameters':
      case 'pipeline-metrics':
        block = cell.role;
        return { kind: cell.role, step: null, colour: null, tagged: true };
      case 'step':
        block = 'step';
        return step === null
          ? { kind: 'none', step: null, colour: null, tagged: true }
          : stepChip(true);
      default:
        if (step !== null) {
          return stepChip(false);
        }
        if (imports.has(i)) {
          return { kind: 'imports', step: null, colour: null, tagged: false };
        }
        if (functions.has(i)) {
          return { kind: 'functions', step: null, colour: null, tagged: false };
        }
        if (block !== null && block !== 'step') {
          return { kind: block, step: null, colour: null, tagged: false };
        }
        return { kind: 'none', step: null, colour: null, tagged: false };
    }
  });
}
