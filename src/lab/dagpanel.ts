/**
 * `jupyterlab-chard:dag`: the pipeline's DAG in the main area ("Show Pipeline Graph"), larger
 * than the sidebar's, following the active notebook. Tracked and restored with the layout.
 */
import { ILayoutRestorer } from '@jupyterlab/application';
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { INotebookTracker } from '@jupyterlab/notebook';
import type { NotebookPanel } from '@jupyterlab/notebook';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import type { TranslationBundle } from '@jupyterlab/translation';
import type { IPlan } from '../core/plan.js';
import { CommandIDs } from './commands.js';
import { DagModel } from './dagmodel.js';
import { DagView } from './dagview.js';
import { pipelineIcon } from './icons.js';
import { IChardPlans } from './tokens.js';
import type { INotebookPlan } from './tokens.js';

/** Feeds a DAG model from the live plan of whichever notebook is current. */
class FollowCurrent {
  constructor(
    private readonly _plans: IChardPlans,
    private readonly _model: DagModel,
    private readonly _onNotebook: (panel: NotebookPanel | null) => void
  ) {}

  set notebook(panel: NotebookPanel | null) {
    this._live?.planChanged.disconnect(this._onPlan, this);
    this._live = panel && !panel.isDisposed ? this._plans.planFor(panel) : null;
    this._panel = panel;
    if (this._live) {
      this._live.planChanged.connect(this._onPlan, this);
      this._model.states = this._live.states;
      if (!this._live.plan) {
        void this._live.update();
      }
    }
    this._model.plan = this._live?.plan ?? null;
    this._onNotebook(panel);
  }

  get panel(): NotebookPanel | null {
    return this._panel;
  }

  dispose(): void {
    this._live?.planChanged.disconnect(this._onPlan, this);
    this._live = null;
  }

  private _onPlan(_: INotebookPlan, plan: IPlan): void {
    this._model.plan = plan;
  }

  private _live: INotebookPlan | null = null;
  private _panel: NotebookPanel | null = null;
}

function titleFor(panel: NotebookPanel | null, trans: TranslationBundle): string {
  return panel
    ? trans.__('Pipeline Graph: %1', PathExt.basename(panel.context.path))
    : trans.__('Pipeline Graph');
}

export const dagPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-chard:dag',
  description:
    "The pipeline's DAG in the main area: each step coloured by its state, the variables on the edges.",
  autoStart: true,
  requires: [IChardPlans, INotebookTracker],
  optional: [ILayoutRestorer, ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    plans: IChardPlans,
    notebooks: INotebookTracker,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyterlab-chard');
    const tracker = new WidgetTracker<MainAreaWidget<DagView>>({ namespace: 'chard-dag' });

    const create = (): MainAreaWidget<DagView> => {
      const view = new DagView({ translator: translator ?? undefined });
      const model = new DagModel();
      view.model = model;
      const widget = new MainAreaWidget({ content: view });
      widget.id = 'jp-chard-dag-main';
      widget.addClass('jp-chard-DagPanel');
      widget.title.icon = pipelineIcon;
      widget.title.closable = true;
      const follow = new FollowCurrent(plans, model, panel => {
        widget.title.label = titleFor(panel, trans);
      });
      follow.notebook = notebooks.currentWidget;
      notebooks.currentChanged.connect((_, panel) => {
        follow.notebook = panel;
      }, widget);
      view.cellRequested.connect((_, request) => {
        const panel = follow.panel;
        if (!panel || panel.isDisposed) {
          return;
        }
        const notebook = panel.content;
        app.shell.activateById(panel.id);
        notebook.mode = 'command';
        notebook.deselectAll();
        notebook.activeCellIndex = request.cell;
        void notebook.scrollToItem(request.cell, 'smart');
      });
      widget.disposed.connect(() => {
        follow.dispose();
        model.dispose();
      });
      return widget;
    };

    app.commands.addCommand(CommandIDs.showDag, {
      label: trans.__('Show Pipeline Graph'),
      caption: trans.__("Open the active notebook's pipeline DAG in the main area"),
      icon: args => (args.isPalette ? undefined : pipelineIcon),
      execute: () => {
        let widget = tracker.currentWidget;
        if (!widget || widget.isDisposed) {
          widget = create();
          void tracker.add(widget);
          app.shell.add(widget, 'main', { mode: 'split-right' });
        }
        app.shell.activateById(widget.id);
        return widget;
      }
    });
    palette?.addItem({ command: CommandIDs.showDag, category: trans.__('Chard') });
    if (restorer) {
      void restorer.restore(tracker, { command: CommandIDs.showDag, name: () => 'dag' });
    }
  }
};
