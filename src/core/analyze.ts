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
import { isProvidedName, notebookPythonVersion } from './python/builtins.js';
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
  /** Code cells before the first tagged cell (they do not run; already reported). */
  orphans: number[];
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
    const orphans = grouping.orphans;
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

  /**
   * Grouped cells -> plan, in named phases: the parameter and metric declarations, the prelude,
   * the data flow between steps, the checks on what it found (names nothing provides, shared
   * mutations), the DAG and its checks, then the plan's steps and edges.
   */
  private _plan(
    nb: INotebook,
    grouping: IGrouping,
    pipeline: IPlan['pipeline'],
    defaults: IStepResources,
    infer: boolean,
    diagnostics: IDiagnostic[]
  ): IPlan {
    const analysisOf = (i: number): ICellAnalysis => {
      const a = this.cell(nb.cells[i].source);
      for (const d of a.diagnostics) {
        diagnostics.push({ severity: d.severity, cell: i, line: d.line, message: d.message });
      }
      return a;
    };
    const parameters = Private.parameters(nb, grouping.parameters, diagnostics);
    const parameterNames = new Set(parameters.map(p => p.name));
    const metricDecls = Private.metricDeclarations(nb, grouping.metrics, diagnostics);
    const prelude = Private.prelude(grouping, analysisOf);
    const steps = grouping.steps;
    const flow = this._dataFlow(steps, prelude, parameterNames, analysisOf);

    Private.reportLaterSuppliers(steps, flow, diagnostics);
    Private.reportUndefinedNames(nb, s => this.cell(s), grouping, prelude, flow, diagnostics);
    const dag = Private.parents(steps, flow.inputs, infer, diagnostics);
    Private.checkOrder(steps, flow.inputs, dag.parents, infer, diagnostics);
    Private.reportSharedMutations(steps, flow, dag, diagnostics);
    const metrics = Private.metrics(metricDecls, steps, flow, parameterNames, diagnostics);
    const planSteps = Private.planSteps(nb, steps, flow, dag.parents, metrics, defaults);
    const edges = Private.edges(steps, dag);
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
      imports: grouping.imports.map(i => Private.code(nb, i)),
      functions: grouping.functions.map(i => Private.code(nb, i)),
      steps: planSteps,
      edges,
      parameters,
      metrics,
      diagnostics: dedupe(diagnostics)
    };
  }

  /**
   * The data flow, in notebook order: what each step reads from which earlier step, which
   * parameters it reads, and the names no earlier step supplies.
   *
   * A step's own pass depends on its cells and, through the names it looks up, on what the
   * steps before it left (the prelude, the parameters, the names supplied and imported and the
   * functions defined so far). The last analysis's pass is reused for a step whose cells are
   * the same, unless it looks up a name whose surroundings may have changed: after one cell is
   * edited, its step runs again, and so does any later step that uses a name the edit added,
   * removed, or redefined as a function.
   */
  private _dataFlow(
    steps: IStepDraft[],
    prelude: IPrelude,
    parameterNames: ReadonlySet<string>,
    analysisOf: (i: number) => ICellAnalysis
  ): IDataFlow {
    const imported = new Set(prelude.imported);
    const registry = new Map(prelude.registry);
    const result: IDataFlow = {
      flows: [],
      inputs: [],
      paramReads: [],
      unresolved: [],
      lastSupplier: new Map(),
      firstSupplier: new Map()
    };
    const { lastSupplier, firstSupplier } = result;
    const memo = this._flowMemo;
    const parameterKey = [...parameterNames].join('\n');
    const reusable =
      memo !== null &&
      memo.parameters === parameterKey &&
      sameItems(memo.prelude, prelude.analyses);
    /** Names whose surroundings may differ from the last analysis's, so far. */
    const changed = new Set<string>();
    const nextMemo: IFlowMemo = { prelude: prelude.analyses, parameters: parameterKey, steps: [] };
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
          preludeDefined: prelude.defined,
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
      result.flows.push(flow);
      const stepInputs = new Map<string, number>();
      const stepParams = new Set<string>();
      for (const name of flow.reads) {
        const from = lastSupplier.get(name);
        if (from !== undefined) {
          stepInputs.set(name, from);
        } else if (parameterNames.has(name)) {
          stepParams.add(name);
        } else {
          result.unresolved.push({ step: s, name });
        }
      }
      // Parameters the step reads are restored even when an earlier step rebinds them.
      for (const name of flow.reads) {
        if (parameterNames.has(name)) {
          stepParams.add(name);
        }
      }
      result.inputs.push(stepInputs);
      result.paramReads.push(stepParams);
      for (const name of flow.supplies) {
        if (!lastSupplier.has(name)) {
          firstSupplier.set(name, s);
        }
        lastSupplier.set(name, s);
      }
    });
    this._flowMemo = nextMemo;
    return result;
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
  /** Where each of `reads` is first read: the block (cell) within the step, and its line. */
  readAt: Map<string, { block: number; line: number }>;
  /** Those of `reads` first read in a lambda body, which may never run. */
  lazy: Set<string>;
  /** Every name the step binds somewhere (its cells' definitions, globals its functions set). */
  binds: Set<string>;
  /** Data names the step changes in place without binding them anew. */
  mutatesOnly: Set<string>;
  /** True when one of its cells may bind names unseen (a star import, `globals()` ...). */
  dynamic: boolean;
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
  const readAt = new Map<string, { block: number; line: number }>();
  const binds = new Set<string>();
  const mutated = new Set<string>();
  let at = { block: 0, line: 1 };
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
        binds.add(w);
      });
      fn.globalMutates.forEach(m => {
        read(m);
        if (isData(m)) {
          supplies.add(m);
          mutated.add(m);
        }
      });
    }
    if (!defined.has(name) && !readSet.has(name)) {
      readSet.add(name);
      reads.push(name);
      readAt.set(name, at);
    }
  };
  const lazy = new Set<string>();
  analyses.forEach((a, block) => {
    a.reads.forEach((name, i) => {
      at = { block, line: a.readLines[i] ?? 1 };
      if (!readSet.has(name) && a.lazyReads.includes(name)) {
        lazy.add(name);
      }
      read(name);
    });
    for (const d of a.defines) {
      defined.add(d);
      supplies.add(d);
      binds.add(d);
    }
    a.deletes.forEach(d => binds.add(d));
    for (const m of a.mutates) {
      if (isData(m)) {
        supplies.add(m);
        mutated.add(m);
      }
    }
    for (const d of a.deletes) {
      defined.delete(d);
      supplies.delete(d);
    }
    a.imports.forEach(n => imported.add(n));
    a.functions.forEach(f => {
      registry.set(f.name, f);
      f.globalWrites.forEach(w => binds.add(w));
    });
  });
  const mutatesOnly = new Set([...mutated].filter(n => !binds.has(n) && supplies.has(n)));
  const dynamic = analyses.some(a => a.dynamic);
  return { reads, supplies, looksUp, readAt, lazy, binds, mutatesOnly, dynamic };
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
  return {
    orphans: [],
    imports: [],
    functions: [],
    parameters: [],
    metrics: [],
    steps: [],
    proposed
  };
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

/** What the prelude (imports + functions cells, run at the top of every step) provides. */
interface IPrelude {
  analyses: ICellAnalysis[];
  defined: ReadonlySet<string>;
  imported: ReadonlySet<string>;
  registry: ReadonlyMap<string, IFunctionInfo>;
  /** True when a prelude cell may bind names unseen (a star import ...). */
  dynamic: boolean;
}

/** The data flow between steps (indices are step positions). */
interface IDataFlow {
  flows: IStepFlow[];
  /** For each step, the step each of its inputs comes from. */
  inputs: Map<string, number>[];
  /** For each step, the parameters it reads. */
  paramReads: Set<string>[];
  /** Names a step reads that no earlier step supplies and no parameter provides. */
  unresolved: { step: number; name: string }[];
  lastSupplier: Map<string, number>;
  firstSupplier: Map<string, number>;
}

/** The DAG: each step's parents, and the names carried by each edge. */
interface IDag {
  parents: Set<number>[];
  /** `from>to` -> the names carried (empty for a pure `prev:` edge). */
  edgeNames: Map<string, Set<string>>;
  /** `from>to` for the edges a `prev:` tag asks for. */
  prevEdges: Set<string>;
}

/** The phases of `NotebookAnalyzer._plan`. */
namespace Private {
  export function code(nb: INotebook, i: number): ICodeBlock {
    return { cell: i, source: nb.cells[i].source };
  }

  export function edgeKey(from: number, to: number): string {
    return `${from}>${to}`;
  }

  /** The `pipeline-parameters` cells' declarations (a later one replaces an earlier one). */
  export function parameters(
    nb: INotebook,
    cells: number[],
    diagnostics: IDiagnostic[]
  ): IParameter[] {
    const result: IParameter[] = [];
    for (const i of cells) {
      const parsed = parseParameters(nb.cells[i].source);
      for (const p of parsed.problems) {
        diagnostics.push({ severity: 'error', cell: i, line: p.line, message: p.message });
      }
      for (const p of parsed.parameters) {
        const at = result.findIndex(q => q.name === p.name);
        if (at >= 0) {
          result.splice(at, 1);
        }
        result.push({ name: p.name, type: p.type, value: p.value, cell: i, line: p.line });
      }
    }
    return result;
  }

  /** The `pipeline-metrics` cells' names (the first declaration of each). */
  export function metricDeclarations(
    nb: INotebook,
    cells: number[],
    diagnostics: IDiagnostic[]
  ): { name: string; cell: number; line: number }[] {
    const result: { name: string; cell: number; line: number }[] = [];
    for (const i of cells) {
      const parsed = parseMetrics(nb.cells[i].source);
      for (const p of parsed.problems) {
        diagnostics.push({ severity: 'error', cell: i, line: p.line, message: p.message });
      }
      for (const m of parsed.metrics) {
        if (!result.some(d => d.name === m.name)) {
          result.push({ name: m.name, cell: i, line: m.line });
        }
      }
    }
    return result;
  }

  export function prelude(grouping: IGrouping, analysisOf: (i: number) => ICellAnalysis): IPrelude {
    const defined = new Set<string>();
    const imported = new Set<string>();
    const registry = new Map<string, IFunctionInfo>();
    const analyses = [...grouping.imports, ...grouping.functions].map(analysisOf);
    for (const a of analyses) {
      a.defines.forEach(n => defined.add(n));
      a.imports.forEach(n => imported.add(n));
      a.functions.forEach(f => registry.set(f.name, f));
    }
    return { analyses, defined, imported, registry, dynamic: analyses.some(a => a.dynamic) };
  }

  /** Reads of names that only a later step defines: the run would fail with NameError. */
  export function reportLaterSuppliers(
    steps: IStepDraft[],
    flow: IDataFlow,
    diagnostics: IDiagnostic[]
  ): void {
    for (const u of flow.unresolved) {
      const later = flow.firstSupplier.get(u.name);
      if (later !== undefined && later > u.step) {
        const at = readLocation(steps[u.step], flow.flows[u.step], u.name);
        diagnostics.push({
          severity: 'warning',
          cell: at.cell,
          line: at.line,
          message: `step "${steps[u.step].name}" reads \`${u.name}\`, which only the later step "${steps[later].name}" defines`
        });
      }
    }
  }

  /** Where a step first reads `name`: its cell and line. */
  function readLocation(
    step: IStepDraft,
    flow: IStepFlow,
    name: string
  ): { cell: number; line: number | null } {
    const at = flow.readAt.get(name);
    return at ? { cell: step.cells[at.block], line: at.line } : { cell: step.cells[0], line: null };
  }

  /**
   * Reads of names that nothing provides (no earlier step, parameter, import, builtin or
   * IPython name): the run would fail with NameError. Nothing is reported for a name the step
   * itself defines somewhere (a loop may read it before it is assigned), nor once a cell that
   * may bind names unseen (`from x import *`, `globals()`, `%run`) has run.
   */
  export function reportUndefinedNames(
    nb: INotebook,
    analyze: (source: string) => ICellAnalysis,
    grouping: IGrouping,
    prelude: IPrelude,
    flow: IDataFlow,
    diagnostics: IDiagnostic[]
  ): void {
    const version = notebookPythonVersion(nb.metadata);
    const running = new Set([
      ...grouping.imports,
      ...grouping.functions,
      ...grouping.parameters,
      ...grouping.metrics,
      ...grouping.steps.flatMap(s => s.cells)
    ]);
    // Cells before the first tagged cell are already reported as not running.
    const orphanDefined = new Set(
      grouping.orphans.flatMap(i => analyze(nb.cells[i].source).defines)
    );
    const unresolvedBy = new Map<number, string[]>();
    for (const u of flow.unresolved) {
      const list = unresolvedBy.get(u.step);
      if (list) {
        list.push(u.name);
      } else {
        unresolvedBy.set(u.step, [u.name]);
      }
    }
    const notRunning = nb.cells
      .map((c, i) => (c.cellType === 'code' && !running.has(i) ? i : -1))
      .filter(i => i >= 0);
    let dynamic = prelude.dynamic;
    grouping.steps.forEach((step, s) => {
      const stepFlow = flow.flows[s];
      dynamic ||= stepFlow.dynamic;
      if (dynamic) {
        return;
      }
      for (const name of unresolvedBy.get(s) ?? []) {
        if (
          flow.firstSupplier.has(name) ||
          stepFlow.binds.has(name) ||
          stepFlow.lazy.has(name) ||
          orphanDefined.has(name) ||
          isProvidedName(name, version)
        ) {
          continue;
        }
        const at = readLocation(step, stepFlow, name);
        const elsewhere =
          notRunning.find(i => analyze(nb.cells[i].source).defines.includes(name)) ?? -1;
        diagnostics.push({
          severity: 'warning',
          cell: at.cell,
          line: at.line,
          message:
            elsewhere >= 0
              ? `\`${name}\` is defined only in cell ${elsewhere + 1}, which does not run in the pipeline: the step would fail with NameError`
              : `\`${name}\` is not defined: no earlier step, parameter, import or builtin provides it, so the step would fail with NameError`
        });
      }
    });
  }

  /** Parents: data edges (when inferring) and `prev:` edges. */
  export function parents(
    steps: IStepDraft[],
    inputs: Map<string, number>[],
    infer: boolean,
    diagnostics: IDiagnostic[]
  ): IDag {
    const index = new Map(steps.map((st, i) => [st.name, i]));
    const result: IDag = {
      parents: steps.map(() => new Set()),
      edgeNames: new Map(),
      prevEdges: new Set()
    };
    const { edgeNames } = result;
    steps.forEach((step, s) => {
      for (const [name, from] of inputs[s]) {
        const key = edgeKey(from, s);
        if (!edgeNames.has(key)) {
          edgeNames.set(key, new Set());
        }
        edgeNames.get(key)!.add(name);
        if (infer) {
          result.parents[s].add(from);
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
          result.parents[s].add(from);
          result.prevEdges.add(edgeKey(from, s));
          if (!edgeNames.has(edgeKey(from, s))) {
            edgeNames.set(edgeKey(from, s), new Set());
          }
        }
      }
    });
    return result;
  }

  /** A cycle is an error; without inference, every input must come from an ancestor. */
  export function checkOrder(
    steps: IStepDraft[],
    inputs: Map<string, number>[],
    parents: Set<number>[],
    infer: boolean,
    diagnostics: IDiagnostic[]
  ): void {
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
  }

  /**
   * Steps that would run in parallel but both change one object in place (`results.append`
   * in each): the second gets the first's result, so they run one after the other. Say so.
   */
  export function reportSharedMutations(
    steps: IStepDraft[],
    flow: IDataFlow,
    dag: IDag,
    diagnostics: IDiagnostic[]
  ): void {
    /** An edge that exists only because both ends mutate what it carries. */
    const sharedOnly = (from: number, to: number): string[] => {
      const key = edgeKey(from, to);
      const names = [...(dag.edgeNames.get(key) ?? [])];
      const shared = names.filter(
        n => flow.flows[from].mutatesOnly.has(n) && flow.flows[to].mutatesOnly.has(n)
      );
      return !dag.prevEdges.has(key) && names.length > 0 && shared.length === names.length
        ? shared.sort()
        : [];
    };
    const serialised = dag.parents.some((ps, s) => [...ps].some(p => sharedOnly(p, s).length > 0));
    if (!serialised || findCycle(dag.parents)) {
      return;
    }
    const base = dag.parents.map(
      (ps, s) => new Set([...ps].filter(p => sharedOnly(p, s).length === 0))
    );
    const ancestors = ancestorSets(base);
    steps.forEach((step, s) => {
      for (const from of [...dag.parents[s]].sort((a, b) => a - b)) {
        const shared = sharedOnly(from, s);
        if (shared.length === 0 || ancestors[s].has(from)) {
          continue;
        }
        const at = readLocation(step, flow.flows[s], shared[0]);
        const names = shared.map(n => `\`${n}\``).join(', ');
        diagnostics.push({
          severity: 'warning',
          cell: at.cell,
          line: at.line,
          message:
            `steps "${steps[from].name}" and "${step.name}" both change ${names} in place, so "${step.name}" ` +
            `runs after "${steps[from].name}" (and sees its changes) instead of in parallel with it; ` +
            'to run them in parallel, let each step build its own value and combine them in a later step'
        });
      }
    });
  }

  /**
   * Metrics: recorded by the step that supplies the name last; a parameter (as Kale allows)
   * by the last step that reads it.
   */
  export function metrics(
    decls: { name: string; cell: number; line: number }[],
    steps: IStepDraft[],
    flow: IDataFlow,
    parameterNames: ReadonlySet<string>,
    diagnostics: IDiagnostic[]
  ): IMetric[] {
    return decls.map(m => {
      let s = flow.lastSupplier.get(m.name);
      if (s === undefined && parameterNames.has(m.name)) {
        const readers = steps.map((_, t) => t).filter(t => flow.paramReads[t].has(m.name));
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
  }

  export function planSteps(
    nb: INotebook,
    steps: IStepDraft[],
    flow: IDataFlow,
    parents: Set<number>[],
    metrics: IMetric[],
    defaults: IStepResources
  ): IStep[] {
    const ids = uniqueDnsLabels(steps.map(s => s.name));
    const outputs: Set<string>[] = steps.map(() => new Set());
    steps.forEach((_, s) => {
      for (const [name, from] of flow.inputs[s]) {
        outputs[from].add(name);
      }
    });
    return steps.map((step, s) => {
      const inputs = flow.inputs[s];
      const stepInputs = [...inputs.keys()].sort();
      const inputSources: Record<string, string> = {};
      for (const name of stepInputs) {
        inputSources[name] = steps[inputs.get(name)!].name;
      }
      const result: IStep = {
        name: step.name,
        id: ids[s],
        cells: [...step.cells],
        code: step.cells.map(i => code(nb, i)),
        inputs: stepInputs,
        outputs: [...outputs[s]].sort(),
        parameters: [...flow.paramReads[s]].sort(),
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
  }

  export function edges(steps: IStepDraft[], dag: IDag): IEdge[] {
    const result: IEdge[] = [];
    steps.forEach((_, s) => {
      for (const p of [...dag.parents[s]].sort((a, b) => a - b)) {
        result.push({
          from: steps[p].name,
          to: steps[s].name,
          names: [...(dag.edgeNames.get(edgeKey(p, s)) ?? [])].sort()
        });
      }
    });
    return result;
  }
}
