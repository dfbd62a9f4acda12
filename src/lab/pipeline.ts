/**
 * `jupyterlab-chard:pipeline`: the Pipeline sidebar, following the active notebook.
 */
import { ILayoutRestorer } from '@jupyterlab/application';
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { CommandIDs } from './commands.js';
import { PipelinePanel } from './panel.js';
import { IChardBackend, IChardPlans } from './tokens.js';

export const pipelinePlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-chard:pipeline',
  description:
    'The Pipeline sidebar: steps, inputs, outputs, parameters, metrics and diagnostics of the active notebook.',
  autoStart: true,
  // No ILabShell: the sidebar works in Jupyter Notebook 7's shell too.
  requires: [IChardPlans, INotebookTracker],
  optional: [ILayoutRestorer, ICommandPalette, ITranslator, IChardBackend],
  activate: (
    app: JupyterFrontEnd,
    plans: IChardPlans,
    tracker: INotebookTracker,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null,
    backend: IChardBackend | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyterlab-chard');
    const panel = new PipelinePanel({
      plans,
      translator: translator ?? undefined,
      backend: backend ?? undefined
    });
    const { shell } = app;
    shell.add(panel, 'left', { rank: 650, type: 'Chard Pipeline' });
    restorer?.add(panel, PipelinePanel.ID);

    panel.notebook = tracker.currentWidget;
    tracker.currentChanged.connect((_, current) => {
      panel.notebook = current;
    });

    app.commands.addCommand(CommandIDs.showPlan, {
      label: trans.__('Show Pipeline'),
      caption: trans.__('Show the pipeline plan of the active notebook'),
      icon: args => (args.isPalette ? undefined : panel.title.icon),
      execute: () => {
        shell.activateById(panel.id);
      }
    });
    palette?.addItem({ command: CommandIDs.showPlan, category: trans.__('Chard') });
  }
};
