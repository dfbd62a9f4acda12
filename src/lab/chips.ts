/**
 * `jupyterlab-chard:step-chips`: a compact chip on every code cell naming its step (in the
 * step's colour) or its kind (imports, functions, parameters, metrics, skip). A click opens
 * the step editor for that cell, or for the selection when it contains the cell. The chips
 * are drawn from the live plan; they never write to the notebook.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import type { Cell } from '@jupyterlab/cells';
import { INotebookTracker } from '@jupyterlab/notebook';
import type { NotebookPanel } from '@jupyterlab/notebook';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import type { TranslationBundle } from '@jupyterlab/translation';
import type { CommandRegistry } from '@lumino/commands';
import type { IPlan } from '../core/plan.js';
import { parseCellTags } from '../core/tags.js';
import { CommandIDs } from './commands.js';
import { STEP_COLOURS } from './daglayout.js';
import { cellChips } from './planview.js';
import type { ICellChip } from './planview.js';
import { cellTags } from './snapshot.js';
import { IChardPlans } from './tokens.js';
import type { INotebookPlan } from './tokens.js';

/** Keeps the chips of one notebook panel in step with its plan. */
export class NotebookChips {
  constructor(
    private readonly _panel: NotebookPanel,
    private readonly _live: INotebookPlan,
    private readonly _commands: CommandRegistry,
    private readonly _trans: TranslationBundle
  ) {
    _live.planChanged.connect(this._render, this);
    if (_live.plan) {
      this._render();
    }
  }

  dispose(): void {
    this._disposed = true;
    this._live.planChanged.disconnect(this._render, this);
  }

  private _render(): void {
    const plan = this._live.plan;
    const notebook = this._panel.content;
    if (!plan || !notebook.model) {
      return;
    }
    const widgets = notebook.widgets;
    const chips = cellChips(
      plan,
      widgets.map(w => ({ type: w.model.type, role: parseCellTags(cellTags(w.model)).role })),
      STEP_COLOURS
    );
    widgets.forEach((cell, i) => this._renderChip(cell, chips[i], plan));
  }

  private _renderChip(cell: Cell, chip: ICellChip | null, plan: IPlan): void {
    const host = cell.inputArea?.node ?? null;
    let button = Private.chips.get(cell) ?? null;
    if (chip && !host && !Private.waiting.has(cell)) {
      // Not drawn yet (JupyterLab draws cells as they first show): chip it when it is.
      Private.waiting.add(cell);
      void cell.ready.then(() => {
        Private.waiting.delete(cell);
        if (!cell.isDisposed && !this._disposed) {
          this._render();
        }
      });
    }
    if (!chip || !host) {
      button?.remove();
      return;
    }
    if (!button) {
      button = this._create(cell);
      Private.chips.set(cell, button);
    }
    if (button.parentNode !== host) {
      host.append(button);
      cell.addClass('jp-chard-mod-chipped');
    }
    const trans = this._trans;
    const label = chip.kind === 'step' ? (chip.step ?? '') : Private.kindLabel(chip.kind, trans);
    button.textContent = label;
    button.className = `jp-chard-Chip jp-mod-${chip.kind}`;
    if (chip.colour !== null) {
      button.classList.add(`jp-chard-StepColor-${chip.colour}`);
    }
    if (!chip.tagged) {
      button.classList.add('jp-mod-joined');
    }
    if (plan.proposed && chip.kind === 'step') {
      button.classList.add('jp-mod-proposed');
    }
    button.dataset.kind = chip.kind;
    const title =
      chip.kind === 'step'
        ? chip.tagged
          ? trans.__('Step %1: edit the step…', label)
          : trans.__('Part of step %1 (no tag: joins the cell above): edit…', label)
        : trans.__('%1: edit the pipeline step…', label);
    button.title = title;
    button.setAttribute('aria-label', title);
  }

  private _disposed = false;

  private _create(cell: Cell): HTMLButtonElement {
    const button = document.createElement('button');
    button.type = 'button';
    // Keep the notebook's selection: the click decides what it applies to.
    button.addEventListener('mousedown', event => event.stopPropagation());
    button.addEventListener('click', event => {
      event.stopPropagation();
      const index = this._panel.content.widgets.indexOf(cell);
      if (index >= 0) {
        void this._commands.execute(CommandIDs.editStep, { cell: index });
      }
    });
    return button;
  }
}

export const chipsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-chard:step-chips',
  description:
    'A chip on every code cell with its pipeline step (or kind); a click edits the step.',
  autoStart: true,
  requires: [INotebookTracker, IChardPlans],
  optional: [ITranslator],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    plans: IChardPlans,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyterlab-chard');
    tracker.widgetAdded.connect((_, panel) => {
      void panel.context.ready.then(() => {
        if (panel.isDisposed) {
          return;
        }
        const live = plans.planFor(panel);
        const chips = new NotebookChips(panel, live, app.commands, trans);
        panel.disposed.connect(() => chips.dispose());
        if (!live.plan) {
          void live.update();
        }
      });
    });
  }
};

namespace Private {
  export const chips = new WeakMap<Cell, HTMLButtonElement>();
  export const waiting = new WeakSet<Cell>();

  export function kindLabel(kind: ICellChip['kind'], trans: TranslationBundle): string {
    switch (kind) {
      case 'imports':
        return trans.__('imports');
      case 'functions':
        return trans.__('functions');
      case 'pipeline-parameters':
        return trans.__('parameters');
      case 'pipeline-metrics':
        return trans.__('metrics');
      case 'skip':
        return trans.__('skip');
      default:
        return trans.__('no step');
    }
  }
}
