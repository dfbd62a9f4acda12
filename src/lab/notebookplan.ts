/**
 * The live plan of one open notebook. Each notebook keeps its own `NotebookAnalyzer`, whose
 * per-cell cache means a re-analysis after an edit re-parses only the edited cells. Content and
 * metadata changes (sources, tags, notebook metadata) schedule a re-analysis after a short delay.
 */
import { Signal } from '@lumino/signaling';
import type { ISignal } from '@lumino/signaling';
import type { INotebookModel } from '@jupyterlab/notebook';
import { NotebookAnalyzer } from '../core/analyze.js';
import type { IPlan } from '../core/plan.js';
import { snapshotNotebook } from './snapshot.js';
import type { INotebookPlan } from './tokens.js';

export class NotebookPlan implements INotebookPlan {
  constructor(options: NotebookPlan.IOptions) {
    this._model = options.model;
    this._fileName = options.fileName;
    this.debounce = options.debounce ?? NotebookPlan.DEFAULT_DEBOUNCE;
    this._model.contentChanged.connect(this._schedule, this);
  }

  /** Milliseconds to wait after a change before re-analysing. */
  debounce: number;

  get plan(): IPlan | null {
    return this._plan;
  }

  get planChanged(): ISignal<this, IPlan> {
    return this._planChanged;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  refresh(): IPlan {
    this._cancel();
    const plan = this._analyzer.analyze(snapshotNotebook(this._model), {
      fileName: this._fileName()
    });
    this._plan = plan;
    this._planChanged.emit(plan);
    return plan;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._cancel();
    this._model.contentChanged.disconnect(this._schedule, this);
    Signal.clearData(this);
  }

  private _schedule(): void {
    this._cancel();
    this._timer = setTimeout(() => {
      this._timer = null;
      if (!this._isDisposed && !this._model.isDisposed) {
        this.refresh();
      }
    }, this.debounce);
  }

  private _cancel(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private readonly _model: INotebookModel;
  private readonly _fileName: () => string;
  private readonly _analyzer = new NotebookAnalyzer();
  private readonly _planChanged = new Signal<this, IPlan>(this);
  private _plan: IPlan | null = null;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _isDisposed = false;
}

export namespace NotebookPlan {
  export const DEFAULT_DEBOUNCE = 250;

  export interface IOptions {
    model: INotebookModel;
    /** The notebook's current file name (it changes when the file is renamed). */
    fileName: () => string;
    debounce?: number;
  }
}
