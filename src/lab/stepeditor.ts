/**
 * `jupyterlab-chard:step-editor`: commands that tag cells with Chard's (Kale's) step
 * vocabulary, in the command palette and the notebook cell context menu, and the step editor
 * dialog (name, parents, limits, image, cache) that the cells' chips open.
 *
 * An action applies to the cell the user pointed at (right-clicked, or whose chip was
 * clicked), or to the selection when it contains that cell: a right-click inside a cell that
 * is not selected selects it first. Every edit is one transaction (one undo step), renames
 * carry the `prev:` references along, and a message says which cells changed.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  Notification,
  showDialog,
  showErrorMessage
} from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import type { NotebookPanel } from '@jupyterlab/notebook';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import type { TranslationBundle } from '@jupyterlab/translation';
import type { IPlan } from '../core/plan.js';
import { parseCellTags } from '../core/tags.js';
import { CommandIDs } from './commands.js';
import { cellRanges } from './planview.js';
import { cellTags } from './snapshot.js';
import { nameFeedback, StepForm } from './stepdialog.js';
import { actionTargets, cellRole, editCells } from './stepedit.js';
import type { EditorRole, ICellsEdit, ICellsEditResult } from './stepedit.js';
import { IChardPlans } from './tokens.js';

export const stepEditorPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-chard:step-editor',
  description:
    'Tag notebook cells as pipeline steps, imports, functions, parameters, metrics or skipped cells, and edit a step (name, parents, limits, image, cache).',
  autoStart: true,
  requires: [INotebookTracker, IChardPlans],
  optional: [ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    plans: IChardPlans,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyterlab-chard');
    const { commands } = app;

    // A right-click inside a cell that is not selected makes it the selection, before the
    // context menu asks the commands whether they apply (JupyterLab 4 leaves the selection
    // where it was when the click lands in a cell's editor).
    tracker.widgetAdded.connect((_, panel) => {
      const listener = (event: MouseEvent): void => Private.pointAt(panel, event.target);
      panel.content.node.addEventListener('contextmenu', listener, true);
      panel.disposed.connect(() =>
        panel.content.node.removeEventListener('contextmenu', listener, true)
      );
    });

    /** The current notebook and the cells an action applies to (0-based indices). */
    const targets = (cell?: unknown): { panel: NotebookPanel; cells: number[] } | null => {
      const panel = tracker.currentWidget;
      if (!panel || !panel.content.model) {
        return null;
      }
      const notebook = panel.content;
      const selected = notebook.widgets
        .map((w, i) => (notebook.isSelectedOrActive(w) ? i : -1))
        .filter(i => i >= 0);
      const pointed =
        typeof cell === 'number' && cell >= 0 && cell < notebook.widgets.length ? cell : null;
      return { panel, cells: actionTargets(pointed, selected) };
    };
    const hasCodeCell = (args: { cell?: unknown }): boolean => {
      const t = targets(args.cell);
      return t?.cells.some(i => t.panel.content.widgets[i]?.model.type === 'code') ?? false;
    };
    const activeRole = (): EditorRole | null => {
      const cell = tracker.activeCell;
      return cell && cell.model.type === 'code' ? cellRole(cell.model) : null;
    };

    const apply = (panel: NotebookPanel, cells: number[], edit: ICellsEdit): void => {
      const model = panel.content.model;
      if (!model) {
        return;
      }
      const all = [...model.cells];
      let result: ICellsEditResult = { changed: [], renamed: [], prevUpdated: [] };
      model.sharedModel.transact(() => {
        result = editCells(all, cells, edit);
      });
      Private.report(result, cells, edit, trans);
      if (result.changed.length > 0) {
        void plans.planFor(panel).update();
      }
    };

    /** Open the step editor on the target cells; applies the edit when the user accepts. */
    const openEditor = async (args: { cell?: unknown; role?: EditorRole }): Promise<void> => {
      const t = targets(args.cell);
      if (!t) {
        return;
      }
      const code = t.cells.filter(i => t.panel.content.widgets[i]?.model.type === 'code');
      if (code.length === 0) {
        return;
      }
      const first = t.panel.content.widgets[code[0]].model;
      const live = plans.planFor(t.panel);
      const plan = live.plan ?? (await live.update()) ?? live.refresh();
      const current = cellRole(first);
      const role = args.role ?? current;
      const stepName = typeof role === 'object' && role.step ? role.step : null;
      const owner = Private.stepOf(plan, code[0]);
      const form = new StepForm(
        {
          role,
          tags: cellTags(first),
          steps: plan.steps.map(s => s.name),
          inferred: Private.inferredParents(plan, stepName),
          defaultImage: plan.pipeline.image,
          suggestedName: plan.proposed && owner ? owner : Private.freshName(plan)
        },
        trans
      );
      // The dialog disables its accept button while the form shows an error (`.jp-mod-error`);
      // it checks on 'input' events, before the form has updated: have it check again after.
      form.onValidity = () => {
        form.node.dispatchEvent(new Event('input', { bubbles: true }));
      };
      const result = await showDialog({
        title: trans._n(
          'Pipeline Step: cell %2',
          'Pipeline Step: cells %2',
          code.length,
          cellRanges(code)
        ),
        body: form,
        buttons: [
          Dialog.cancelButton({ label: trans.__('Cancel') }),
          Dialog.okButton({ label: trans.__('Apply') })
        ],
        focusNodeSelector: '.jp-chard-StepForm-name'
      });
      if (!result.button.accept) {
        return;
      }
      if (form.problem) {
        await showErrorMessage(trans.__('The step was not changed'), form.problem);
        return;
      }
      const edit = form.getValue();
      // Renaming a step renames all of it: its other cells tagged with the old name follow.
      let cells = code;
      if (
        typeof current === 'object' &&
        typeof edit.role === 'object' &&
        edit.role.step !== current.step
      ) {
        const all = [...(t.panel.content.model?.cells ?? [])];
        const others = all
          .map((c, i) =>
            c.type === 'code' && parseCellTags(cellTags(c)).stepNames.includes(current.step)
              ? i
              : -1
          )
          .filter(i => i >= 0);
        cells = [...new Set([...code, ...others])].sort((a, b) => a - b);
      }
      apply(t.panel, cells, edit);
    };

    commands.addCommand(CommandIDs.makeStep, {
      label: trans.__('Make Step…'),
      caption: trans.__('Make the selected cells a pipeline step (tag step:NAME)'),
      isEnabled: args => hasCodeCell(args),
      execute: async args => {
        if (typeof args.name === 'string') {
          const t = targets(args.cell);
          const name = args.name.trim();
          if (t) {
            const { problem } = nameFeedback(name, trans);
            if (problem) {
              await showErrorMessage(trans.__('Invalid step name'), problem);
              return;
            }
            apply(t.panel, t.cells, { role: { step: name } });
          }
          return;
        }
        const t = targets(args.cell);
        const first = t?.cells.find(i => t.panel.content.widgets[i]?.model.type === 'code');
        const current =
          t && first !== undefined ? cellRole(t.panel.content.widgets[first].model) : null;
        await openEditor({
          cell: args.cell,
          role: typeof current === 'object' && current ? current : { step: '' }
        });
      }
    });

    commands.addCommand(CommandIDs.editStep, {
      label: trans.__('Edit Pipeline Step…'),
      caption: trans.__("Edit the selected cells' step: name, parents, limits, image, cache"),
      isEnabled: args => hasCodeCell(args),
      execute: args => openEditor({ cell: args.cell })
    });

    const roles: [string, Exclude<EditorRole, object>, string, string][] = [
      [
        CommandIDs.tagImports,
        'imports',
        trans.__('Imports'),
        trans.__('Mark the selected cells as imports (prepended to every step)')
      ],
      [
        CommandIDs.tagFunctions,
        'functions',
        trans.__('Functions'),
        trans.__('Mark the selected cells as functions (prepended to every step)')
      ],
      [
        CommandIDs.tagParameters,
        'pipeline-parameters',
        trans.__('Pipeline Parameters'),
        trans.__('Mark the selected cells as the pipeline parameters')
      ],
      [
        CommandIDs.tagMetrics,
        'pipeline-metrics',
        trans.__('Pipeline Metrics'),
        trans.__('Mark the selected cells as the pipeline metrics')
      ],
      [
        CommandIDs.skipCells,
        'skip',
        trans.__('Skip'),
        trans.__('Leave the selected cells out of the pipeline')
      ],
      [
        CommandIDs.clearTags,
        'continue',
        trans.__('Clear'),
        trans.__("Remove Chard's step tags from the selected cells (they join the step above)")
      ]
    ];
    for (const [id, role, label, caption] of roles) {
      commands.addCommand(id, {
        label,
        caption,
        isEnabled: args => hasCodeCell(args),
        isToggled: () => role !== 'continue' && activeRole() === role,
        execute: args => {
          const t = targets(args.cell);
          if (t) {
            apply(t.panel, t.cells, { role });
          }
        }
      });
    }

    if (palette) {
      const category = trans.__('Chard');
      palette.addItem({ command: CommandIDs.makeStep, category });
      palette.addItem({ command: CommandIDs.editStep, category });
      for (const [id] of roles) {
        palette.addItem({ command: id, category });
      }
    }
  }
};

namespace Private {
  /** Make the cell holding `target` the selection, unless the selection already holds it. */
  export function pointAt(panel: NotebookPanel, target: EventTarget | null): void {
    const notebook = panel.content;
    if (!(target instanceof Node)) {
      return;
    }
    const index = notebook.widgets.findIndex(w => w.node.contains(target));
    if (index < 0 || notebook.isSelectedOrActive(notebook.widgets[index])) {
      return;
    }
    notebook.deselectAll();
    notebook.activeCellIndex = index;
  }

  /** The step that cell `index` belongs to in the plan, if any. */
  export function stepOf(plan: IPlan, index: number): string | null {
    return plan.steps.find(s => s.cells.includes(index))?.name ?? null;
  }

  export function freshName(plan: IPlan): string {
    const used = new Set(plan.steps.map(s => s.name));
    let n = plan.steps.length + 1;
    while (used.has(`step_${n}`)) {
      n++;
    }
    return `step_${n}`;
  }

  /** The parents the data flow gives `step`, each with the variables it passes. */
  export function inferredParents(plan: IPlan, step: string | null): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const e of plan.edges) {
      if (e.to === step && e.names.length > 0) {
        out.set(e.from, e.names);
      }
    }
    return out;
  }

  /** Say what changed: the cells (numbered from 1), and the prev: references that followed. */
  export function report(
    result: ICellsEditResult,
    targets: readonly number[],
    edit: ICellsEdit,
    trans: TranslationBundle
  ): void {
    if (result.changed.length === 0) {
      Notification.info(trans.__('No cell changed: the cells already had these tags.'), {
        autoClose: 4000
      });
      return;
    }
    const what =
      typeof edit.role === 'object'
        ? trans.__('step "%1"', edit.role.step)
        : edit.role === 'continue'
          ? trans.__('untagged')
          : edit.role;
    const edited = result.changed.filter(i => targets.includes(i));
    let message = trans._n(
      'Cell %2 is now %3.',
      'Cells %2 are now %3.',
      edited.length,
      cellRanges(edited),
      what
    );
    if (result.renamed.length > 0) {
      message += ` ${trans.__(
        'Renamed %1; prev: updated in %2.',
        result.renamed.map(r => `"${r}"`).join(', '),
        result.prevUpdated.length > 0
          ? trans.__('cells %1', cellRanges(result.prevUpdated))
          : trans.__('no cell')
      )}`;
    }
    Notification.success(message, { autoClose: 5000 });
  }
}
