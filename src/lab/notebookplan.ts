/**
 * The live plan of one open notebook. Each notebook keeps its own `NotebookAnalyzer`, whose
 * per-cell cache means a re-analysis after an edit re-parses only the edited cells. Content and
 * metadata changes (sources, tags, notebook metadata) schedule a re-analysis after a short delay.
 *
 * `update()` hands the cells to parse to an analysis service (in JupyterLab, Web Workers for a
 * large batch, the calling thread for a small one) and publishes the plan when they are back.
 * One analysis runs at a time: a newer one waits for it (so that it parses only what changed
 * since) and drops its plan; `refresh()` analyses on the calling thread at once, and cancels an
 * analysis in flight, as `dispose()` does.
 */
import { Signal } from '@lumino/signaling';
import type { ISignal } from '@lumino/signaling';
import { NotebookAnalyzer } from '../core/analyze.js';
import type { ICellAnalysisService } from '../core/analyze.js';
import type { IPlan } from '../core/plan.js';
import { analyzeCell } from '../core/python/scopes.js';
import type { ICellAnalysis } from '../core/python/scopes.js';
import type { IAnalysisProgress, IAnalyzeCellsOptions } from './analysisworkers.js';
import { snapshotNotebook } from './snapshot.js';
import type { INotebookModelLike } from './snapshot.js';
import { StepStates } from './stepstates.js';
import type { IParsedCounts, INotebookPlan } from './tokens.js';

export class NotebookPlan implements INotebookPlan {
  constructor(options: NotebookPlan.IOptions) {
    this._model = options.model;
    this._fileName = options.fileName;
    this._service = options.service ?? NotebookPlan.callingThread;
    this.debounce = options.debounce ?? NotebookPlan.DEFAULT_DEBOUNCE;
    this._model.contentChanged.connect(this._schedule, this);
  }

  /** Milliseconds to wait after a change before re-analysing. */
  debounce: number;

  readonly states = new StepStates();

  get plan(): IPlan | null {
    return this._plan;
  }

  get planChanged(): ISignal<this, IPlan> {
    return this._planChanged;
  }

  get analysing(): IAnalysisProgress | null {
    return this._analysing;
  }

  get analysingChanged(): ISignal<this, IAnalysisProgress | null> {
    return this._analysingChanged;
  }

  get parsed(): IParsedCounts {
    return { ...this._parsed };
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  refresh(): IPlan {
    this._cancel();
    this._generation++;
    this._controller?.abort();
    const nb = snapshotNotebook(this._model);
    this._parsed.cells += this._analyzer.uncached(nb).length;
    const plan = this._analyzer.analyze(nb, { fileName: this._fileName() });
    this._slowSince = null;
    this._publish(plan);
    return plan;
  }

  update(): Promise<IPlan | null> {
    this._cancel();
    const generation = ++this._generation;
    const previous = this._inFlight ?? Promise.resolve(null);
    const run = previous.then(() =>
      generation === this._generation && !this._isDisposed ? this._analyse(generation) : null
    );
    this._inFlight = run;
    void run.then(() => {
      if (this._inFlight === run) {
        this._inFlight = null;
      }
    });
    return run;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._generation++;
    this._cancel();
    this._controller?.abort();
    this._model.contentChanged.disconnect(this._schedule, this);
    Signal.clearData(this);
  }

  /** One analysis through the service; never rejects. */
  private async _analyse(generation: number): Promise<IPlan | null> {
    if (this._model.isDisposed) {
      return null;
    }
    const nb = snapshotNotebook(this._model);
    const fileName = this._fileName();
    const controller = new AbortController();
    this._controller = controller;
    const missing = this._analyzer.uncached(nb).length;
    /** The batch's last progress report: set only if it went to the workers. */
    const last: { progress: IAnalysisProgress | null } = { progress: null };
    const start = performance.now();
    const service: ICellAnalysisService = {
      analyzeCells: sources =>
        this._service.analyzeCells(sources, {
          signal: controller.signal,
          onProgress: p => {
            last.progress = p;
            this._slowSince ??= start;
            this._setAnalysing(p);
          }
        })
    };
    let plan: IPlan;
    try {
      plan = await this._analyzer.analyzeWith(service, nb, { fileName });
    } catch (reason) {
      if (!controller.signal.aborted) {
        console.error('Chard: the notebook could not be analysed', reason);
        if (generation === this._generation) {
          this._setAnalysing(null);
        }
      }
      return null;
    } finally {
      if (this._controller === controller) {
        this._controller = null;
      }
    }
    // The cells are cached now, whether or not the plan is still wanted.
    this._parsed.cells += missing;
    this._parsed.inWorkers += last.progress?.inWorkers ?? 0;
    if (generation !== this._generation || this._isDisposed) {
      return null; // a newer analysis publishes its own plan
    }
    this._publish(plan);
    if (this._slowSince !== null) {
      // From the first batch that went to the workers to the plan (the sidebar shows it by
      // now), on the browser's performance timeline; the end-to-end test reads it.
      performance.measure('chard:analysis', {
        start: this._slowSince,
        detail: { notebook: fileName, parsed: this.parsed }
      });
      this._slowSince = null;
    }
    return plan;
  }

  /** A new plan (it ends the progress of the analysis that made it, without a signal). */
  private _publish(plan: IPlan): void {
    this._plan = plan;
    this._analysing = null;
    this._planChanged.emit(plan);
  }

  private _setAnalysing(progress: IAnalysisProgress | null): void {
    this._analysing = progress;
    this._analysingChanged.emit(progress);
  }

  private _schedule(): void {
    this._cancel();
    this._timer = setTimeout(() => {
      this._timer = null;
      if (!this._isDisposed && !this._model.isDisposed) {
        void this.update();
      }
    }, this.debounce);
  }

  private _cancel(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private readonly _model: NotebookPlan.IModel;
  private readonly _fileName: () => string;
  private readonly _service: NotebookPlan.IService;
  private readonly _analyzer = new NotebookAnalyzer();
  private readonly _planChanged = new Signal<this, IPlan>(this);
  private readonly _analysingChanged = new Signal<this, IAnalysisProgress | null>(this);
  private _plan: IPlan | null = null;
  private _analysing: IAnalysisProgress | null = null;
  private readonly _parsed = { cells: 0, inWorkers: 0 };
  /** Counts analyses started; an analysis publishes its plan only if it is still the last. */
  private _generation = 0;
  private _inFlight: Promise<IPlan | null> | null = null;
  /** When the first batch since the last plan went to the workers, else null. */
  private _slowSince: number | null = null;
  private _controller: AbortController | null = null;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _isDisposed = false;
}

export namespace NotebookPlan {
  export const DEFAULT_DEBOUNCE = 250;

  /** What the plan reads from a JupyterLab notebook model (`INotebookModel` satisfies it). */
  export interface IModel extends INotebookModelLike {
    readonly contentChanged: ISignal<unknown, void>;
    readonly isDisposed: boolean;
  }

  /** Analyses cells for `update()` (`AnalysisWorkers` in JupyterLab). */
  export interface IService {
    analyzeCells(
      sources: readonly string[],
      options?: IAnalyzeCellsOptions
    ): Promise<ICellAnalysis[]>;
  }

  export interface IOptions {
    model: IModel;
    /** The notebook's current file name (it changes when the file is renamed). */
    fileName: () => string;
    debounce?: number;
    /** Analyses the cells `update()` parses (default: the calling thread). */
    service?: IService;
  }

  /** Every cell on the calling thread. */
  export const callingThread: IService = {
    analyzeCells: sources => Promise.resolve(sources.map(analyzeCell))
  };
}
