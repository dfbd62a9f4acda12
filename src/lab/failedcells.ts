/**
 * Where a run's steps failed, marked on the notebook itself: the failed cell gets the class
 * `jp-chard-mod-failed` and a line under its code naming the step and the error (with a
 * button that shows the run), and the failing line is highlighted in the cell's editor by a
 * CodeMirror 6 line decoration. Nothing is written to the notebook's model or metadata (the
 * marks live in the page and in the editor's view state), so the notebook is not made dirty.
 * A cell's mark goes when the cell is edited; all of them when the next run starts or another
 * run is shown.
 */
import type { Cell } from '@jupyterlab/cells';
import { CodeMirrorEditor } from '@jupyterlab/codemirror';
import type { NotebookPanel } from '@jupyterlab/notebook';
import type { TranslationBundle } from '@jupyterlab/translation';
import { StateEffect, StateField } from '@codemirror/state';
import type { Extension } from '@codemirror/state';
import { Decoration, EditorView } from '@codemirror/view';
import type { DecorationSet } from '@codemirror/view';
import type { IFailure } from './runmodel.js';

/** The class of a failed cell, and of the highlighted line in its editor. */
export const FAILED_CELL_CLASS = 'jp-chard-mod-failed';
export const FAILED_LINE_CLASS = 'jp-chard-FailedLine';

/** Sets (a 1-based line) or clears (null) the failed line of an editor. */
const setFailedLine = StateEffect.define<number | null>();

/** The failed line's decoration: cleared by any edit of the cell's text. */
const failedLineField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(marks, tr) {
    let next = tr.docChanged ? Decoration.none : marks;
    for (const effect of tr.effects) {
      if (effect.is(setFailedLine)) {
        const line = effect.value;
        next =
          line === null || line < 1 || line > tr.state.doc.lines
            ? Decoration.none
            : Decoration.set([
                Decoration.line({ class: FAILED_LINE_CLASS }).range(tr.state.doc.line(line).from)
              ]);
      }
    }
    return next;
  },
  provide: field => EditorView.decorations.from(field)
});

/** The extension that draws failed lines (in every editor it is injected into, once). */
export const failedLineExtension: Extension = failedLineField;

/** The marks of one notebook panel. */
export class FailureMarks {
  constructor(options: FailureMarks.IOptions) {
    this._panel = options.panel;
    this._trans = options.trans;
    this._onShow = options.onShow ?? null;
  }

  /** The cells marked now (0-based indices). */
  get cells(): readonly number[] {
    return [...this._marked.keys()].sort((a, b) => a - b);
  }

  /** Mark these failures (replacing the marks shown); an unchanged list changes nothing. */
  show(failures: readonly IFailure[]): void {
    const located = failures.filter(f => f.cell !== null);
    const key = JSON.stringify(located.map(f => [f.step, f.cell, f.line, f.message]));
    if (key === this._key) {
      return;
    }
    this.clear();
    this._key = key;
    const widgets = this._panel.content.widgets;
    for (const failure of located) {
      const cell = widgets[failure.cell ?? -1];
      if (cell && !this._marked.has(failure.cell ?? -1)) {
        this._mark(failure.cell ?? -1, cell, failure);
      }
    }
  }

  /** Remove every mark. */
  clear(): void {
    this._key = '';
    for (const index of [...this._marked.keys()]) {
      this._unmark(index);
    }
  }

  dispose(): void {
    this.clear();
  }

  private _mark(index: number, cell: Cell, failure: IFailure): void {
    const t = this._trans;
    const banner = document.createElement('div');
    banner.className = 'jp-chard-FailureBanner';
    banner.setAttribute('role', 'note');
    const text = document.createElement('span');
    text.className = 'jp-chard-FailureBanner-text';
    const error = Private.errorOf(failure);
    text.textContent =
      failure.line !== null
        ? t.__('Step %1 failed here (line %2): %3', failure.step, failure.line, error)
        : t.__('Step %1 failed here: %2', failure.step, error);
    banner.append(text);
    if (this._onShow) {
      const show = document.createElement('button');
      show.type = 'button';
      show.className = 'jp-mod-styled jp-chard-FailureBanner-show';
      show.textContent = t.__('Show the run');
      const onShow = this._onShow;
      show.addEventListener('click', () => onShow(failure));
      banner.append(show);
    }
    // An edit of the cell's code (not its outputs or metadata) takes the mark away.
    const onEdit = (_: unknown, change: { sourceChange?: unknown }): void => {
      if (change.sourceChange) {
        this._unmark(index);
      }
    };
    const mark: Private.IMark = { cell, banner, onEdit };
    this._marked.set(index, mark);
    cell.model.sharedModel.changed.connect(onEdit);
    void cell.ready.then(() => {
      if (this._marked.get(index) !== mark || cell.isDisposed) {
        return;
      }
      cell.addClass(FAILED_CELL_CLASS);
      cell.inputArea?.node.append(banner);
      Private.setLine(cell, failure.line);
    });
  }

  private _unmark(index: number): void {
    const mark = this._marked.get(index);
    if (!mark) {
      return;
    }
    this._marked.delete(index);
    const { cell, banner, onEdit } = mark;
    if (!cell.isDisposed) {
      cell.model.sharedModel.changed.disconnect(onEdit);
      cell.removeClass(FAILED_CELL_CLASS);
      Private.setLine(cell, null);
    }
    banner.remove();
  }

  private readonly _panel: NotebookPanel;
  private readonly _trans: TranslationBundle;
  private readonly _onShow: ((failure: IFailure) => void) | null;
  private readonly _marked = new Map<number, Private.IMark>();
  private _key = '';
}

export namespace FailureMarks {
  export interface IOptions {
    panel: NotebookPanel;
    trans: TranslationBundle;
    /** The banner's "Show the run" button (none without it). */
    onShow?: (failure: IFailure) => void;
  }
}

namespace Private {
  export interface IMark {
    cell: Cell;
    banner: HTMLElement;
    onEdit: (sender: unknown, change: { sourceChange?: unknown }) => void;
  }

  /**
   * The error itself: the local runner's message starts `step "NAME" failed in cell N, line L: `,
   * which the mark says in its own words.
   */
  export function errorOf(failure: IFailure): string {
    const prefix = `step ${JSON.stringify(failure.step)} failed`;
    if (!failure.message.startsWith(prefix)) {
      return failure.message;
    }
    const rest = failure.message.slice(prefix.length);
    const colon = rest.indexOf(': ');
    return colon >= 0 ? rest.slice(colon + 2) : failure.message;
  }

  const injected = new WeakSet<EditorView>();

  /** Highlight (or clear) a line in the cell's editor: view state only, not the document. */
  export function setLine(cell: Cell, line: number | null): void {
    const editor = cell.editor;
    if (!(editor instanceof CodeMirrorEditor)) {
      return;
    }
    const view = editor.editor;
    if (!injected.has(view)) {
      if (line === null) {
        return;
      }
      editor.injectExtension(failedLineExtension);
      injected.add(view);
    }
    view.dispatch({ effects: setFailedLine.of(line) });
  }
}
