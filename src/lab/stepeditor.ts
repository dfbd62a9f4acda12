/**
 * `jupyterlab-chard:step-editor`: commands that tag the selected cells with Chard's (Kale's)
 * step vocabulary, in the command palette and the notebook cell context menu.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, InputDialog, showErrorMessage } from '@jupyterlab/apputils';
import type { ICellModel } from '@jupyterlab/cells';
import { INotebookTracker } from '@jupyterlab/notebook';
import type { NotebookPanel } from '@jupyterlab/notebook';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import type { TranslationBundle } from '@jupyterlab/translation';
import { stepNameProblem } from '../core/tags.js';
import { CommandIDs } from './commands.js';
import { cellRole, setCellRole } from './stepedit.js';
import type { EditorRole } from './stepedit.js';
import { IChardPlans } from './tokens.js';

export const stepEditorPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-chard:step-editor',
  description:
    'Tag notebook cells as pipeline steps, imports, functions, parameters, metrics or skipped cells.',
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

    /** The current notebook and its selected cells (the active one included). */
    const selection = (): { panel: NotebookPanel; cells: ICellModel[] } | null => {
      const panel = tracker.currentWidget;
      if (!panel || !panel.content.model) {
        return null;
      }
      const notebook = panel.content;
      const cells = notebook.widgets.filter(w => notebook.isSelectedOrActive(w)).map(w => w.model);
      return { panel, cells };
    };
    const hasCodeCell = (): boolean => selection()?.cells.some(c => c.type === 'code') ?? false;
    const activeRole = (): EditorRole | null => {
      const cell = tracker.activeCell;
      return cell && cell.model.type === 'code' ? cellRole(cell.model) : null;
    };
    const apply = (panel: NotebookPanel, cells: ICellModel[], role: EditorRole): void => {
      const model = panel.content.model;
      if (!model) {
        return;
      }
      let changed = 0;
      model.sharedModel.transact(() => {
        changed = setCellRole(cells, role);
      });
      if (changed > 0) {
        void plans.planFor(panel).update();
      }
    };

    commands.addCommand(CommandIDs.makeStep, {
      label: trans.__('Make Step…'),
      caption: trans.__('Make the selected cells a pipeline step (tag step:NAME)'),
      isEnabled: hasCodeCell,
      execute: async args => {
        const current = selection();
        if (!current) {
          return;
        }
        let name = typeof args.name === 'string' ? args.name : null;
        if (name === null) {
          const result = await InputDialog.getText({
            title: trans.__('Make Step'),
            label: trans.__('Step name'),
            text: await Private.suggestName(plans, current.panel, tracker),
            okLabel: trans.__('Make Step')
          });
          if (!result.button.accept || result.value === null) {
            return;
          }
          name = result.value;
        }
        name = name.trim();
        const problem = stepNameProblem(name);
        if (problem) {
          await showErrorMessage(trans.__('Invalid step name'), Private.sentence(problem, trans));
          return;
        }
        apply(current.panel, current.cells, { step: name });
      }
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
        isEnabled: hasCodeCell,
        isToggled: () => role !== 'continue' && activeRole() === role,
        execute: () => {
          const current = selection();
          if (current) {
            apply(current.panel, current.cells, role);
          }
        }
      });
    }

    if (palette) {
      const category = trans.__('Chard');
      palette.addItem({ command: CommandIDs.makeStep, category });
      for (const [id] of roles) {
        palette.addItem({ command: id, category });
      }
    }
  }
};

namespace Private {
  /** The active cell's step name, or the proposed one, or a fresh `step_N`. */
  export async function suggestName(
    plans: IChardPlans,
    panel: NotebookPanel,
    tracker: INotebookTracker
  ): Promise<string> {
    const cell = tracker.activeCell;
    const role = cell ? cellRole(cell.model) : null;
    if (role !== null && typeof role === 'object' && role.step) {
      return role.step;
    }
    const live = plans.planFor(panel);
    const plan = live.plan ?? (await live.update()) ?? live.refresh();
    const index = panel.content.activeCellIndex;
    const owner = plan.steps.find(s => s.cells.includes(index));
    if (plan.proposed && owner) {
      return owner.name;
    }
    const used = new Set(plan.steps.map(s => s.name));
    let n = plan.steps.length + 1;
    while (used.has(`step_${n}`)) {
      n++;
    }
    return `step_${n}`;
  }

  /** Core's problem text ("the step name is empty") as a sentence. */
  export function sentence(problem: string, trans: TranslationBundle): string {
    return trans.__('%1.', problem.charAt(0).toUpperCase() + problem.slice(1));
  }
}
