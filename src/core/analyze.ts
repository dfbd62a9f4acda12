/**
 * Notebook -> plan: group cells into steps (Kale's tags, or proposed from headings), analyse
 * each cell's Python, infer the data flow between steps and build the DAG.
 *
 * Cell analyses are cached by source text, so re-analysing a notebook after one cell changed
 * re-parses only that cell. Parsing is nearly all of a first analysis; `analyzeWith` hands the
 * cells not yet cached to an `ICellAnalysisService` (in Node, a pool of worker threads) first.
 */
import type { ICell, INotebook } from './notebook.js';
import type {
  ICodeBlock,
  IDiagnostic,
  IEdge,
  IMetric,
  IParameter,
  IPlan,
  IStep,
  IStepResources
} from './plan.js';
import { parseCellTags, stepNameProblem } from './tags.js';
import type { CellRole, ICellTags } from './tags.js';
import { analyzeCell } from './python/scopes.js';
import type { ICellAnalysis, IFunctionInfo } from './python/scopes.js';
import { parseMetrics, parseParameters } from './python/literals.js';
import { readPipelineSettings, readStepDefaults } from './metadata.js';
import { uniqueDnsLabels } from './names.js';

export interface IAnalyzeOptions {
  /**
   * Infer the DAG from data flow (default). When false, only `prev:` tags order steps, as in
   * Kale; a step reading a value from a step that is not its ancestor is then an error.
   * The notebook's `chard.inferDependencies` metadata sets the default.
   */
  inferDependencies?: boolean;
  /** The notebook's file name: the default pipeline name and the name in messages. */
  fileName?: string;
}

/**
 * Analyses many cells at once, e.g. on other threads. `analyzeCells(sources)[i]` must equal
 * `analyzeCell(sources[i])`.
 */
export interface ICellAnalysisService {
  analyzeCells(sources: readonly string[]): Promise<ICellAnalysis[]>;
}

/**
 * Chunk boundaries for a batch of cell sources that several threads share: consecutive runs of
 * about `chunkChars` characters (at least one source each), so that the threads share the work
 * evenly whatever the cells' sizes. Chunk k holds `sources[starts[k] .. chunkEnd(starts, k, n))`.
 */
export function chunkStarts(sources: readonly string[], chunkChars: number): number[] {
  const starts: number[] = [];
  let size = chunkChars;
  sources.forEach((source, i) => {
    if (size >= chunkChars) {
      starts.push(i);
      size = 0;
    }
    size += source.length + 1;
  });
  return starts;
}

/** Where chunk `chunk` of a batch of `count` sources cut at `starts` ends (exclusive). */
export function chunkEnd(starts: readonly number[], chunk: number, count: number): number {
  return chunk + 1 < starts.length ? starts[chunk + 1] : count;
}

/** A step while cells are being grouped. */
interface IStepDraft extends IStepResources {
  name: string;
  cells: number[];
  prev: { name: string; cell: number }[];
}

/** The prelude and data blocks that untagged cells after them join. */
type BlockKey = 'imports' | 'functions' | 'parameters' | 'metrics';

const BLOCK_OF_ROLE: Partial<Record<CellRole, BlockKey>> = {
  imports: 'imports',
  functions: 'functions',
  'pipeline-parameters': 'parameters',
  'pipeline-metrics': 'metrics'
};

interface IGrouping {
  imports: number[];
  functions: number[];
  parameters: number[];
  metrics: number[];
  steps: IStepDraft[];
  proposed: boolean;
}

/** Analyses notebooks, keeping per-cell results for the next call. */
export class NotebookAnalyzer {
  private readonly _cache = new Map<string, ICellAnalysis>();
  private _flowMemo: IFlowMemo | null = null;

  /** Cached analysis of one cell's source. */
  cell(source: string): ICellAnalysis {
    let result = this._cache.get(source);
    if (!result) {
      if (this._cache.size >= NotebookAnalyzer.CACHE_LIMIT) {
        this._cache.clear();
      }
      result = analyzeCell(source);
      this._cache.set(source, result);
    }
    return result;
  }

  /** The distinct sources of the notebook's code cells that have no cached analysis. */
  uncached(nb: INotebook): string[] {
    const missing = new Set<string>();
    for (const cell of nb.cells) {
      if (cell.cellType === 'code' && !this._cache.has(cell.source)) {
        missing.add(cell.source);
      }
    }
    return [...missing];
  }

  /** Cache analyses computed elsewhere: `analyses[i]` is the analysis of `sources[i]`. */
  remember(sources: readonly string[], analyses: readonly ICellAnalysis[]): void {
    if (sources.length !== analyses.length) {
      throw new Error(`${sources.length} sources but ${analyses.length} analyses`);
    }
    if (this._cache.size + sources.length > NotebookAnalyzer.CACHE_LIMIT) {
      this._cache.clear();
    }
    sources.forEach((source, i) => this._cache.set(source, analyses[i]));
  }

  /**
   * `analyze`, with the cells not yet cached analysed by `service` first (all at once, so a
   * pool can spread them over threads).
   */
  async analyzeWith(
    service: ICellAnalysisService,
    nb: INotebook,
    options: IAnalyzeOptions = {}
  ): Promise<IPlan> {
    const missing = this.uncached(nb);
    if (missing.length > 0) {
      this.remember(missing, await service.analyzeCells(missing));
    }
    return this.analyze(nb, options);
  }

  analyze(nb: INotebook, options: IAnalyzeOptions = {}): IPlan {
    const diagnostics: IDiagnostic[] = [];
    const fileName = options.fileName ?? 'notebook.ipynb';
    const pipeline = readPipelineSettings(nb.metadata, fileName, diagnostics);
    const defaults = readStepDefaults(nb.metadata, diagnostics);
    const infer = options.inferDependencies ?? pipeline.chard.inferDependencies ?? true;
    const tags = nb.cells.map(c => (c.cellType === 'code' ? parseCellTags(c.tags) : null));
    const hasStepTags = tags.some(t => t !== null && (t.role === 'step' || t.stepNames.length > 0));
    const grouping = hasStepTags
      ? this._groupTagged(nb.cells, tags, diagnostics)
      : this._groupProposed(nb.cells, tags, diagnostics);
    return this._plan(nb, grouping, pipeline, defaults, infer, diagnostics);
  }

  private _groupTagged(
    cells: ICell[],
    tags: (ICellTags | null)[],
    diagnostics: IDiagnostic[]
  ): IGrouping {
    const grouping = emptyGrouping(false);
    const byName = new Map<string, IStepDraft>();
    let current: IStepDraft | BlockKey | null = null;
    const orphans: number[] = [];
    cells.forEach((_cell, index) => {
      const t = tags[index];
      if (!t) {
        return; // markdown and raw cells
      }
      reportTagProblems(t, index, diagnostics);
      if (t.stepNames.length > 1 && t.role === 'step') {
        diagnostics.push({
          severity: 'error',
          cell: index,
          line: null,
          message: `the cell is tagged with ${t.stepNames.length} step names (${t.stepNames.join(', ')}); a cell belongs to one step`
        });
      }
      const block = BLOCK_OF_ROLE[t.role];
      if (block) {
        grouping[block].push(index);
        current = block;
        return;
      }
      switch (t.role) {
        case 'skip':
          return;
        case 'step': {
          const name = t.step!;
          const problem = stepNameProblem(name);
          if (problem) {
            diagnostics.push({
              severity: 'error',
              cell: index,
              line: null,
              message: `invalid step name ${JSON.stringify(name)}: ${problem}`
            });
          }
          if (current === 'metrics') {
            diagnostics.push({
              severity: 'error',
              cell: index,
              line: null,
              message:
                'a step comes after the pipeline-metrics cell; pipeline-metrics must be at the end of the notebook'
            });
          }
          let step = byName.get(name);
          if (!step) {
            step = newDraft(name);
            byName.set(name, step);
            grouping.steps.push(step);
          }
          step.cells.push(index);
          for (const p of t.prev) {
            step.prev.push({ name: p, cell: index });
          }
          mergeResources(step, t);
          current = step;
          return;
        }
        case 'continue': {
          if (t.prev.length > 0) {
            diagnostics.push({
              severity: 'error',
              cell: index,
              line: null,
              message: '`prev:` tags need a `step:` tag on the same cell'
            });
          }
          if (current === null) {
            if (cells[index].source.trim() !== '') {
              orphans.push(index);
            }
            return;
          }
          if (typeof current === 'string') {
            grouping[current].push(index);
          } else {
            current.cells.push(index);
            mergeResources(current, t);
          }
          return;
        }
      }
    });
    if (orphans.length > 0) {
      diagnostics.push({
        severity: 'warning',
        cell: orphans[0],
        line: null,
        message:
          `${orphans.length === 1 ? 'this cell comes' : `${orphans.length} cells come`} before the first tagged cell and ` +
          'will not run in the pipeline (tag it `imports`, a `step:`, or `skip`)'
      });
    }
    return grouping;
  }

  /** No step tags: one step per markdown-heading section; import-only cells become `imports`. */
  private _groupProposed(
    cells: ICell[],
    tags: (ICellTags | null)[],
    diagnostics: IDiagnostic[]
  ): IGrouping {
    const grouping = emptyGrouping(true);
    const explicitImports = tags.some(t => t?.role === 'imports');
    let title = 'setup';
    let section: IStepDraft | null = null;
    const used = new Set<string>();
    let special: BlockKey | null = null;
    cells.forEach((cell, index) => {
      if (cell.cellType === 'markdown') {
        const heading = /^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$/m.exec(cell.source);
        if (heading) {
          title = heading[1];
          section = null;
          special = null;
        }
        return;
      }
      const t = tags[index];
      if (!t || cell.source.trim() === '') {
        return;
      }
      reportTagProblems(t, index, diagnostics);
      if (t.role === 'skip') {
        return;
      }
      const block = BLOCK_OF_ROLE[t.role];
      if (block) {
        grouping[block].push(index);
        special = block;
        return;
      }
      if (special) {
        grouping[special].push(index);
        return;
      }
      if (isInstallOnly(cell.source)) {
        diagnostics.push({
          severity: 'warning',
          cell: index,
          line: null,
          message:
            'the cell only installs packages: it is left out of the proposed steps (a step runs in its own process or ' +
            'container; put the packages in the image, or tag the cell `step:` to keep it)'
        });
        return;
      }
      if (!explicitImports && !section && this.cell(cell.source).importsOnly) {
        grouping.imports.push(index);
        return;
      }
      if (!section) {
        const name = proposedStepName(title, used);
        section = newDraft(name);
        grouping.steps.push(section);
      }
      section.cells.push(index);
    });
    return grouping;
  }

  private _plan(
    nb: INotebook,
    grouping: IGrouping,
    pipeline: IPlan['pipeline'],
    defaults: IStepResources,
    infer: boolean,
    diagnostics: IDiagnostic[]
  ): IPlan {
    const code = (i: number): ICodeBlock => ({ cell: i, source: nb.cells[i].source });
    const analysisOf = (i: number): ICellAnalysis => {
      const a = this.cell(nb.cells[i].source);
      for (const d of a.diagnostics) {
        diagnostics.push({ severity: d.severity, cell: i, line: d.line, message: d.message });
      }
      return a;
    };

    // Parameters and metrics.
    const parameters: IParameter[] = [];
    for (const i of grouping.parameters) {
      const parsed = parseParameters(nb.cells[i].source);
      for (const p of parsed.problems) {
        diagnostics.push({ severity: 'error', cell: i, line: p.line, message: p.message });
      }
      for (const p of parsed.parameters) {
        const at = parameters.findIndex(q => q.name === p.name);
        if (at >= 0) {
          parameters.splice(at, 1);
        }
        parameters.push({ name: p.name, type: p.type, value: p.value, cell: i, line: p.line });
      }
    }
    const parameterNames = new Set(parameters.map(p => p.name));
    const metricDecls: { name: string; cell: number; line: number }[] = [];
    for (const i of grouping.metrics) {
      const parsed = parseMetrics(nb.cells[i].source);
      for (const p of parsed.problems) {
        diagnostics.push({ severity: 'error', cell: i, line: p.line, message: p.message });
      }
      for (const m of parsed.metrics) {
        if (!metricDecls.some(d => d.name === m.name)) {
          metricDecls.push({ name: m.name, cell: i, line: m.line });
        }
      }
    }

    // The prelude (imports + functions) runs at the top of every step.
    const preludeDefined = new Set<string>();
    const imported = new Set<string>();
    const registry = new Map<string, IFunctionInfo>();
    const prelude = [...grouping.imports, ...grouping.functions].map(analysisOf);
    for (const a of prelude) {
      a.defines.forEach(n => preludeDefined.add(n));
      a.imports.forEach(n => imported.add(n));
      a.functions.forEach(f => registry.set(f.name, f));
    }

    // Data flow, in notebook order.
    const steps = grouping.steps;
    const ids = uniqueDnsLabels(steps.map(s => s.name));
    const lastSupplier = new Map<string, number>();
    const inputs: Map<string, number>[] = [];
    const paramReads: Set<string>[] = [];
    const unresolved: { step: number; name: string }[] = [];
    /** The first step that supplies each name. */
    const firstSupplier = new Map<string, number>();
    // A step's own pass depends on its cells and, through the names it looks up, on what the
    // steps before it left (the prelude, the parameters, the names supplied and imported and the
    // functions defined so far). The last analysis's pass is reused for a step whose cells are
    // the same, unless it looks up a name whose surroundings may have changed: after one cell is
    // edited, its step runs again, and so does any later step that uses a name the edit added,
    // removed, or redefined as a function.
    const memo = this._flowMemo;
    const parameterKey = [...parameterNames].join('\n');
    const reusable =
      memo !== null && memo.parameters === parameterKey && sameItems(memo.prelude, prelude);
    /** Names whose surroundings may differ from the last analysis's, so far. */
    const changed = new Set<string>();
    const nextMemo: IFlowMemo = { prelude, parameters: parameterKey, steps: [] };
    steps.forEach((step, s) => {
      const analyses = step.cells.map(analysisOf);
      const before = reusable ? memo.steps[s] : undefined;
      let flow: IStepFlow;
      if (
        before &&
        sameItems(before.analyses, analyses) &&
        ![...changed].some(n => before.flow.looksUp.has(n))
      ) {
        flow = before.flow;
        for (const a of analyses) {
          a.imports.forEach(n => imported.add(n));
          a.functions.forEach(f => registry.set(f.name, f));
        }
      } else {
        flow = stepFlow(analyses, {
          preludeDefined,
          imported,
          registry,
          isSupplied: name => lastSupplier.has(name),
          parameterNames
        });
        if (reusable) {
          addChangedEffects(changed, before, analyses, flow);
        }
      }
      nextMemo.steps.push({ analyses, flow });
      const { reads, supplies } = flow;
      const stepInputs = new Map<string, number>();
      const stepParams = new Set<string>();
      for (const name of reads) {
        const from = lastSupplier.get(name);
        if (from !== undefined) {
          stepInputs.set(name, from);
        } else if (parameterNames.has(name)) {
          stepParams.add(name);
        } else {
          unresolved.push({ step: s, name });
        }
      }
      // Parameters the step reads are restored even when an earlier step rebinds them.
      for (const name of reads) {
        if (parameterNames.has(name)) {
          stepParams.add(name);
        }
      }
      inputs.push(stepInputs);
      paramReads.push(stepParams);
      for (const name of supplies) {
        if (!lastSupplier.has(name)) {
          firstSupplier.set(name, s);
        }
        lastSupplier.set(name, s);
      }
    });
    this._flowMemo = nextMemo;

    // Reads of names that only a later step defines: the run would fail with NameError.
    for (const u of unresolved) {
      const later = firstSupplier.get(u.name);
      if (later !== undefined && later > u.step) {
        diagnostics.push({
          severity: 'warning',
          cell: steps[u.step].cells[0],
          line: null,
          message: `step "${steps[u.step].name}" reads \`${u.name}\`, which only the later step "${steps[later].name}" defines`
        });
      }
    }

    // Parents: data edges (when inferring) and prev: edges.
    const index = new Map(steps.map((st, i) => [st.name, i]));
    const parents: Set<number>[] = steps.map(() => new Set());
    const edgeNames = new Map<string, Set<string>>();
    const edgeKey = (a: number, b: number): string => `${a}>${b}`;
    steps.forEach((step, s) => {
      for (const [name, from] of inputs[s]) {
        const key = edgeKey(from, s);
        if (!edgeNames.has(key)) {
          edgeNames.set(key, new Set());
        }
        edgeNames.get(key)!.add(name);
        if (infer) {
          parents[s].add(from);
        }
      }
      for (const p of step.prev) {
        const from = index.get(p.name);
        if (from === undefined) {
          diagnostics.push({
            severity: 'error',
            cell: p.cell,
            line: null,
            message: p.name.includes(':')
              ? `\`prev:${p.name}\` is malformed: a \`prev:\` tag names one step; give one tag per parent (${p.name
                  .split(':')
                  .map(n => `\`prev:${n}\``)
                  .join(', ')})`
              : `\`prev:${p.name}\` names a step that does not exist`
          });
        } else if (from === s) {
          diagnostics.push({
            severity: 'error',
            cell: p.cell,
            line: null,
            message: `step "${p.name}" lists itself as its \`prev:\``
          });
        } else {
          parents[s].add(from);
          if (!edgeNames.has(edgeKey(from, s))) {
            edgeNames.set(edgeKey(from, s), new Set());
          }
        }
      }
    });

    const cycle = findCycle(parents);
    if (cycle) {
      const names = cycle
        .map(i => `"${steps[i].name}" (cell ${steps[i].cells[0] + 1})`)
        .join(' -> ');
      diagnostics.push({
        severity: 'error',
        cell: steps[cycle[0]].cells[0],
        line: null,
        message: `the steps form a cycle: ${names}; remove one of the \`prev:\` tags`
      });
    } else if (!infer) {
      const ancestors = ancestorSets(parents);
      steps.forEach((step, s) => {
        for (const [name, from] of inputs[s]) {
          if (!ancestors[s].has(from)) {
            diagnostics.push({
              severity: 'error',
              cell: step.cells[0],
              line: null,
              message: `step "${step.name}" reads \`${name}\` from step "${steps[from].name}", which is not among its \`prev:\` ancestors`
            });
          }
        }
      });
    }

    // Metrics: recorded by the step that supplies the name last.
    const metrics: IMetric[] = metricDecls.map(m => {
      // A metric is recorded by the step that supplies it last; a parameter (as Kale allows)
      // by the last step that reads it.
      let s = lastSupplier.get(m.name);
      if (s === undefined && parameterNames.has(m.name)) {
        const readers = steps.map((_, t) => t).filter(t => paramReads[t].has(m.name));
        s = readers.length > 0 ? readers[readers.length - 1] : undefined;
      }
      if (s === undefined) {
        diagnostics.push({
          severity: 'error',
          cell: m.cell,
          line: m.line,
          message: `metric \`${m.name}\` is not produced by any step`
        });
      }
      return {
        name: m.name,
        step: s === undefined ? null : steps[s].name,
        cell: m.cell,
        line: m.line
      };
    });

    const outputs: Set<string>[] = steps.map(() => new Set());
    steps.forEach((_, s) => {
      for (const [name, from] of inputs[s]) {
        outputs[from].add(name);
      }
    });

    const planSteps: IStep[] = steps.map((step, s) => {
      const stepInputs = [...inputs[s].keys()].sort();
      const inputSources: Record<string, string> = {};
      for (const name of stepInputs) {
        inputSources[name] = steps[inputs[s].get(name)!].name;
      }
      const result: IStep = {
        name: step.name,
        id: ids[s],
        cells: [...step.cells],
        code: step.cells.map(code),
        inputs: stepInputs,
        outputs: [...outputs[s]].sort(),
        parameters: [...paramReads[s]].sort(),
        metrics: metrics.filter(m => m.step === step.name).map(m => m.name),
        parents: [...parents[s]].sort((a, b) => a - b).map(p => steps[p].name),
        inputSources,
        limits: { ...defaults.limits, ...step.limits },
        labels: { ...defaults.labels, ...step.labels },
        annotations: { ...defaults.annotations, ...step.annotations },
        secrets: [
          ...defaults.secrets,
          ...step.secrets.filter(x => !defaults.secrets.some(d => d.env === x.env))
        ]
      };
      const image = step.image ?? defaults.image;
      if (image !== undefined) {
        result.image = image;
      }
      const cache = step.cache ?? defaults.cache;
      if (cache !== undefined) {
        result.cache = cache;
      }
      return result;
    });

    const edges: IEdge[] = [];
    steps.forEach((_, s) => {
      for (const p of [...parents[s]].sort((a, b) => a - b)) {
        edges.push({
          from: steps[p].name,
          to: steps[s].name,
          names: [...(edgeNames.get(edgeKey(p, s)) ?? [])].sort()
        });
      }
    });

    if (steps.length === 0) {
      diagnostics.push({
        severity: 'error',
        cell: null,
        line: null,
        message: 'the notebook has no code to run as a pipeline step'
      });
    }

    diagnostics.sort((a, b) => (a.cell ?? -1) - (b.cell ?? -1) || (a.line ?? 0) - (b.line ?? 0));
    return {
      version: 1,
      pipeline,
      proposed: grouping.proposed,
      imports: grouping.imports.map(code),
      functions: grouping.functions.map(code),
      steps: planSteps,
      edges,
      parameters,
      metrics,
      diagnostics: dedupe(diagnostics)
    };
  }
}

export namespace NotebookAnalyzer {
  /** Cell analyses kept between calls before the cache starts over. */
  export const CACHE_LIMIT = 50000;
}

const INSTALL_LINE = /^\s*[!%]\s*(pip3?|conda|mamba|apt(-get)?|python3? -m pip)\s+install\b/;

/** A cell made only of `!pip install ...`-style lines (and comments). */
function isInstallOnly(source: string): boolean {
  const lines = source.split('\n').filter(l => l.trim() !== '' && !l.trim().startsWith('#'));
  return lines.length > 0 && lines.every(l => INSTALL_LINE.test(l));
}

/** One step's own data-flow pass: the names it reads from outside it, and those it supplies. */
interface IStepFlow {
  /** Names read before the step binds them, in order of first read. */
  reads: string[];
  /** Names the step defines or mutates (data only) and has not deleted at its end. */
  supplies: Set<string>;
  /** Every name whose surroundings the pass looked up (functions, imports, suppliers). */
  looksUp: Set<string>;
}

/** The data-flow passes of the last analysis, with what they depended on. */
interface IFlowMemo {
  prelude: ICellAnalysis[];
  parameters: string;
  steps: { analyses: ICellAnalysis[]; flow: IStepFlow }[];
}

/** What the steps before a step left; `imported` and `registry` grow with the step's cells. */
interface IFlowSurroundings {
  preludeDefined: ReadonlySet<string>;
  imported: Set<string>;
  registry: Map<string, IFunctionInfo>;
  isSupplied: (name: string) => boolean;
  parameterNames: ReadonlySet<string>;
}

function stepFlow(analyses: ICellAnalysis[], around: IFlowSurroundings): IStepFlow {
  const { imported, registry, parameterNames } = around;
  const defined = new Set(around.preludeDefined);
  const reads: string[] = [];
  const readSet = new Set<string>();
  const supplies = new Set<string>();
  const applied = new Set<string>();
  const looksUp = new Set<string>();
  // Mutating a name makes the step its supplier only when the name is data: defined in the
  // step or by an earlier step, or a parameter; not a module or a builtin (`super().f()`).
  const isData = (name: string): boolean => {
    looksUp.add(name);
    return (
      !imported.has(name) &&
      (defined.has(name) || around.isSupplied(name) || parameterNames.has(name))
    );
  };
  const read = (name: string): void => {
    looksUp.add(name);
    const fn = registry.get(name);
    if (fn && !applied.has(name)) {
      // A notebook function's free variables are read wherever the function is used.
      applied.add(name);
      fn.freeReads.forEach(read);
      fn.globalWrites.forEach(w => {
        defined.add(w);
        supplies.add(w);
      });
      fn.globalMutates.forEach(m => {
        read(m);
        if (isData(m)) {
          supplies.add(m);
        }
      });
    }
    if (!defined.has(name) && !readSet.has(name)) {
      readSet.add(name);
      reads.push(name);
    }
  };
  for (const a of analyses) {
    a.reads.forEach(read);
    for (const d of a.defines) {
      defined.add(d);
      supplies.add(d);
    }
    for (const m of a.mutates) {
      if (isData(m)) {
        supplies.add(m);
      }
    }
    for (const d of a.deletes) {
      defined.delete(d);
      supplies.delete(d);
    }
    a.imports.forEach(n => imported.add(n));
    a.functions.forEach(f => registry.set(f.name, f));
  }
  return { reads, supplies, looksUp };
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Add to `changed` the names whose surroundings a step's new pass leaves differently from its
 * pass in the last analysis (`before`, at the same position): names it supplies or imports on
 * one side only, and functions it defines differently.
 */
function addChangedEffects(
  changed: Set<string>,
  before: { analyses: ICellAnalysis[]; flow: IStepFlow } | undefined,
  analyses: ICellAnalysis[],
  flow: IStepFlow
): void {
  const addDifference = (a: ReadonlySet<string>, b: ReadonlySet<string>): void => {
    a.forEach(n => b.has(n) || changed.add(n));
    b.forEach(n => a.has(n) || changed.add(n));
  };
  const importsOf = (list: ICellAnalysis[]): Set<string> => new Set(list.flatMap(a => a.imports));
  const functionsOf = (list: ICellAnalysis[]): Map<string, string> =>
    new Map(list.flatMap(a => a.functions.map(f => [f.name, JSON.stringify(f)] as const)));
  const old = before ?? { analyses: [], flow: { supplies: new Set<string>() } };
  addDifference(old.flow.supplies, flow.supplies);
  addDifference(importsOf(old.analyses), importsOf(analyses));
  const oldFunctions = functionsOf(old.analyses);
  const newFunctions = functionsOf(analyses);
  oldFunctions.forEach((text, name) => newFunctions.get(name) === text || changed.add(name));
  newFunctions.forEach((text, name) => oldFunctions.get(name) === text || changed.add(name));
}

function emptyGrouping(proposed: boolean): IGrouping {
  return { imports: [], functions: [], parameters: [], metrics: [], steps: [], proposed };
}

function newDraft(name: string): IStepDraft {
  return { name, cells: [], prev: [], limits: {}, labels: {}, annotations: {}, secrets: [] };
}

function reportTagProblems(t: ICellTags, cell: number, diagnostics: IDiagnostic[]): void {
  for (const p of t.problems) {
    diagnostics.push({
      severity: 'error',
      cell,
      line: null,
      message: `tag \`${p.tag}\`: ${p.message}`
    });
  }
}

function mergeResources(step: IStepDraft, t: ICellTags): void {
  Object.assign(step.limits, t.limits);
  Object.assign(step.labels, t.labels);
  Object.assign(step.annotations, t.annotations);
  if (t.image !== undefined) {
    step.image = t.image;
  }
  if (t.cache !== undefined) {
    step.cache = t.cache;
  }
  for (const s of t.secrets) {
    if (!step.secrets.some(x => x.env === s.env)) {
      step.secrets.push(s);
    }
  }
}

/** A Kale-style step name (`[_a-z][_a-z0-9]*`) from a heading, unique among `used`. */
function proposedStepName(title: string, used: Set<string>): string {
  const base =
    title
      .normalize('NFKD')
      .toLowerCase()
      .replace(/[`*_~[\]()]/g, ' ')
      .replace(/[^a-z0-9]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .slice(0, 40)
      .replace(/_+$/, '') || 'step';
  let name = /^[0-9]/.test(base) ? `step_${base}` : base;
  for (let n = 2; used.has(name); n++) {
    name = `${base}_${n}`;
  }
  used.add(name);
  return name;
}

/** A cycle in the parent graph as step indices (first repeated at the end), or null. */
function findCycle(parents: Set<number>[]): number[] | null {
  const state = parents.map(() => 0); // 0 new, 1 on stack, 2 done
  const stack: number[] = [];
  const visit = (n: number): number[] | null => {
    state[n] = 1;
    stack.push(n);
    for (const p of parents[n]) {
      if (state[p] === 1) {
        const from = stack.indexOf(p);
        return [...stack.slice(from), p].reverse();
      }
      if (state[p] === 0) {
        const found = visit(p);
        if (found) {
          return found;
        }
      }
    }
    stack.pop();
    state[n] = 2;
    return null;
  };
  for (let n = 0; n < parents.length; n++) {
    if (state[n] === 0) {
      const found = visit(n);
      if (found) {
        return found;
      }
    }
  }
  return null;
}

/** For each step, the set of its ancestors (the graph must be acyclic). */
function ancestorSets(parents: Set<number>[]): Set<number>[] {
  const memo: (Set<number> | undefined)[] = parents.map(() => undefined);
  const get = (n: number): Set<number> => {
    let set = memo[n];
    if (!set) {
      set = new Set();
      for (const p of parents[n]) {
        set.add(p);
        get(p).forEach(a => set!.add(a));
      }
      memo[n] = set;
    }
    return set;
  };
  return parents.map((_, n) => get(n));
}

function dedupe(diagnostics: IDiagnostic[]): IDiagnostic[] {
  const seen = new Set<string>();
  return diagnostics.filter(d => {
    const key = `${d.severity}|${d.cell}|${d.line}|${d.message}`;
    if (seen.has(key)) {
      return false;
    }
    seen.add(key);
    return true;
  });
}

const shared = new NotebookAnalyzer();

/** Analyse a notebook into a pipeline plan (cell analyses are cached across calls). */
export function analyzeNotebook(nb: INotebook, options: IAnalyzeOptions = {}): IPlan {
  return shared.analyze(nb, options);
}

/** `analyzeNotebook`, with uncached cells analysed by `service` (see `analyzeWith`). */
export function analyzeNotebookWith(
  service: ICellAnalysisService,
  nb: INotebook,
  options: IAnalyzeOptions = {}
): Promise<IPlan> {
  return shared.analyzeWith(service, nb, options);
}
