/**
 * `jupyterlab-chard:plans`: one live plan per open notebook, for the sidebar and the editor.
 * The notebooks share the Web Workers that parse large batches of cells.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { PathExt } from '@jupyterlab/coreutils';
import type { NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { AnalysisWorkers } from './analysisworkers.js';
import { blobWorkers } from './blobworkers.js';
import { NotebookPlan } from './notebookplan.js';
import { IChardPlans } from './tokens.js';
import type { INotebookPlan } from './tokens.js';

/** Keeps a `NotebookPlan` per notebook panel, disposed with the panel. */
export class NotebookPlans implements IChardPlans {
  constructor(options: { service?: NotebookPlan.IService } = {}) {
    this._service = options.service;
  }

  planFor(panel: NotebookPanel): INotebookPlan {
    let plan = this._plans.get(panel);
    if (!plan || plan.isDisposed) {
      const created = new NotebookPlan({
        model: panel.content.model ?? Private.missingModel(),
        fileName: () => PathExt.basename(panel.context.path),
        debounce: this._debounce,
        service: this._service
      });
      panel.disposed.connect(() => {
        created.dispose();
        this._plans.delete(panel);
      });
      this._plans.set(panel, created);
      plan = created;
    }
    return plan;
  }

  /** The re-analysis delay for every open and future notebook. */
  set debounce(ms: number) {
    this._debounce = ms;
    this._plans.forEach(p => (p.debounce = ms));
  }

  private readonly _service: NotebookPlan.IService | undefined;
  private readonly _plans = new Map<NotebookPanel, NotebookPlan>();
  private _debounce = NotebookPlan.DEFAULT_DEBOUNCE;
}

export const plansPlugin: JupyterFrontEndPlugin<IChardPlans> = {
  id: 'jupyterlab-chard:plans',
  description: 'Analyses each open notebook into a pipeline plan, in the browser, as it changes.',
  autoStart: true,
  provides: IChardPlans,
  optional: [ISettingRegistry],
  activate: (_app: JupyterFrontEnd, settingRegistry: ISettingRegistry | null): IChardPlans => {
    const plans = new NotebookPlans({
      service: new AnalysisWorkers({ createWorker: blobWorkers() })
    });
    if (settingRegistry) {
      void settingRegistry
        .load(plansPlugin.id)
        .then(settings => {
          const apply = (): void => {
            const value = settings.get('debounce').composite;
            plans.debounce = typeof value === 'number' ? value : NotebookPlan.DEFAULT_DEBOUNCE;
          };
          apply();
          settings.changed.connect(apply);
        })
        .catch(reason => {
          console.error('Chard: could not load the analysis settings', reason);
        });
    }
    return plans;
  }
};

namespace Private {
  export function missingModel(): never {
    throw new Error('the notebook has no model yet; wait for panel.context.ready');
  }
}
