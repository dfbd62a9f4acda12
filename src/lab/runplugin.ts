/**
 * `jupyterlab-chard:run`: "Run as pipeline" on the notebook toolbar (declared in the schema) and
 * the palette commands to run, compile, submit, cancel and open the runs, with the "Run with…"
 * dialog, and the live run monitor in the main area (tracked and restored with the layout).
 */
import { ILayoutRestorer } from '@jupyterlab/application';
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  IThemeManager,
  MainAreaWidget,
  showDialog,
  showErrorMessage,
  WidgetTracker
} from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import type { NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import type { TranslationBundle } from '@jupyterlab/translation';
import { runIcon, stopIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';
import type { IDiagnostic, IPlan } from '../core/plan.js';
import { RunClient } from './client.js';
import { CommandIDs } from './commands.js';
import { FailureMarks } from './failedcells.js';
import type { RunMonitor } from './monitor.js';
import { diagnosticLocation } from './planview.js';
import { ChardRequestError } from './request.js';
import { RunDialogBody } from './rundialog.js';
import type { IFailure } from './runmodel.js';
import { hasSavedTarget, saveChoice, savedChoice, startRequest } from './runtarget.js';
import type { IRunChoice } from './runtarget.js';
import { IChardPlans } from './tokens.js';

export const runPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-chard:run',
  description:
    'Run as pipeline: run, compile and submit the notebook, and the live run monitor with logs, history and metrics.',
  autoStart: true,
  requires: [IChardPlans, INotebookTracker, IRenderMimeRegistry],
  optional: [ILayoutRestorer, ICommandPalette, ITranslator, IThemeManager],
  activate: (
    app: JupyterFrontEnd,
    plans: IChardPlans,
    notebooks: INotebookTracker,
    rendermime: IRenderMimeRegistry,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null,
    themes: IThemeManager | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyterlab-chard');
    const client = new RunClient({ settings: app.serviceManager.serverSettings });
    const tracker = new WidgetTracker<MainAreaWidget<RunMonitor>>({ namespace: 'chard-runs' });
    const runner = new Runner(app, plans, notebooks, rendermime, client, tracker, trans);
    const { commands } = app;
    const hasNotebook = () => notebooks.currentWidget !== null;

    commands.addCommand(CommandIDs.runPipeline, {
      label: trans.__('Run as Pipeline'),
      caption: trans.__(
        'Run the saved notebook as a pipeline on its target (this machine by default)'
      ),
      icon: args => (args.toolbar ? runIcon : undefined),
      isEnabled: hasNotebook,
      execute: () => runner.run(false)
    });
    commands.addCommand(CommandIDs.runPipelineWith, {
      label: trans.__('Run as Pipeline With…'),
      caption: trans.__('Choose where the pipeline runs and its parameters, then run it'),
      isEnabled: hasNotebook,
      execute: () => runner.run(true)
    });
    commands.addCommand(CommandIDs.compilePipeline, {
      label: args =>
        args.target === 'kfp'
          ? trans.__('Compile Pipeline (Kubeflow Pipelines)')
          : trans.__('Compile Pipeline (Argo Workflow)'),
      caption: trans.__('Compile the saved notebook into a manifest and open it'),
      isEnabled: hasNotebook,
      execute: args => runner.compile(args.target === 'kfp' ? 'kfp' : 'argo')
    });
    commands.addCommand(CommandIDs.submitPipeline, {
      label: trans.__('Submit Pipeline to a Cluster…'),
      caption: trans.__('Run the saved notebook on Argo or Kubeflow Pipelines'),
      isEnabled: hasNotebook,
      execute: () => runner.run(true, true)
    });
    commands.addCommand(CommandIDs.cancelRun, {
      label: trans.__('Cancel Pipeline Run'),
      icon: args => (args.toolbar ? stopIcon : undefined),
      isEnabled: () => runner.current?.content.model.finished === false,
      execute: () => runner.cancel()
    });
    commands.addCommand(CommandIDs.openRuns, {
      label: trans.__('Open Pipeline Runs'),
      caption: trans.__("Open the run monitor: this notebook's runs, logs and metrics"),
      execute: args =>
        runner.openRuns(
          typeof args.notebook === 'string' ? args.notebook : undefined,
          typeof args.run === 'string' ? args.run : undefined
        )
    });
    for (const command of [
      CommandIDs.runPipeline,
      CommandIDs.runPipelineWith,
      CommandIDs.compilePipeline,
      CommandIDs.submitPipeline,
      CommandIDs.cancelRun,
      CommandIDs.openRuns
    ]) {
      palette?.addItem({ command, category: 'Chard' });
    }
    palette?.addItem({
      command: CommandIDs.compilePipeline,
      category: 'Chard',
      args: { target: 'kfp' }
    });
    tracker.currentChanged.connect(() => commands.notifyCommandChanged(CommandIDs.cancelRun));
    themes?.themeChanged.connect(() => tracker.forEach(w => w.content.redrawCharts()));
    // Running a cell of a notebook is consent to run its code: its interpreter may be warmed.
    NotebookActions.executed.connect((_, { notebook }) => {
      const panel = notebooks.find(p => p.content === notebook);
      if (panel) {
        runner.consent(panel.context.path);
        void runner.prepare();
      }
    });
    notebooks.currentChanged.connect(() => {
      void runner.prepare();
      for (const c of [
        CommandIDs.runPipeline,
        CommandIDs.runPipelineWith,
        CommandIDs.compilePipeline,
        CommandIDs.submitPipeline
      ]) {
        commands.notifyCommandChanged(c);
      }
    });
    void restorer?.restore(tracker, {
      command: CommandIDs.openRuns,
      args: w => ({ notebook: w.content.notebook, run: w.content.model.id ?? '' }),
      name: w => w.content.notebook
    });
  }
};

/** What the commands do. */
class Runner {
  constructor(
    private readonly _app: JupyterFrontEnd,
    private readonly _plans: IChardPlans,
    private readonly _notebooks: INotebookTracker,
    private readonly _rendermime: IRenderMimeRegistry,
    private readonly _client: RunClient,
    private readonly _tracker: WidgetTracker<MainAreaWidget<RunMonitor>>,
    private readonly _trans: TranslationBundle
  ) {}

  /** The monitor in front (the current one, or the last used). */
  get current(): MainAreaWidget<RunMonitor> | null {
    return this._tracker.currentWidget;
  }

  /** The user ran code of notebook `path` (a cell, in this session). */
  consent(path: string): void {
    this._consented.add(path);
  }

  /**
   * Have the backend warm the current notebook's interpreter (its imports loaded) before the
   * user runs it, when the notebook runs on this machine; once per notebook and imports (again
   * after a while: the backend ends warm interpreters left idle). Only for a notebook whose code
   * the user has chosen to run (a cell run in this session, or a Chard run before): merely
   * opening a notebook imports nothing, as opening one in JupyterLab runs nothing.
   */
  async prepare(): Promise<void> {
    const panel = this._notebooks.currentWidget;
    if (!panel) {
      return;
    }
    try {
      await panel.context.ready;
      const plan = await this._plan(panel);
      const choice = savedChoice(plan);
      if (!plan || plan.steps.length === 0 || choice.target !== 'local') {
        return;
      }
      const key = JSON.stringify([panel.context.path, plan.imports.map(b => b.source)]);
      if (Date.now() - (this._prepared.get(key) ?? -Infinity) < Private.PREPARE_AGAIN_MS) {
        return;
      }
      if (!this._consented.has(panel.context.path)) {
        if ((await this._client.list(panel.context.path)).length === 0) {
          return;
        }
        this._consented.add(panel.context.path);
      }
      this._prepared.set(key, Date.now());
      await this._client.prepare(startRequest(panel.context.path, choice));
    } catch {
      // Only a head start: the run itself starts what it needs, and says what went wrong.
    }
  }

  /** Run the current notebook: on its saved target, or after the dialog (`ask`). */
  async run(ask: boolean, clusterOnly = false): Promise<void> {
    const panel = this._notebooks.currentWidget;
    if (!panel) {
      return;
    }
    let monitor: MainAreaWidget<RunMonitor> | null = null;
    let opened = false;
    try {
      const plan = await this._plan(panel);
      const errors = plan?.diagnostics.filter(d => d.severity === 'error') ?? [];
      if (errors.length > 0) {
        // Nothing would run: say why here, before any dialog or monitor.
        await this._showErrors(panel.context.path, errors);
        return;
      }
      let choice = savedChoice(plan);
      if (clusterOnly && choice.target === 'local') {
        choice = { ...choice, target: 'argo' };
      }
      if (ask || !hasSavedTarget(plan) || panel.context.model.dirty) {
        const asked = await this._ask(panel, plan, choice);
        if (!asked) {
          return;
        }
        choice = asked;
      }
      opened = !this._tracker.find(w => w.content.notebook === panel.context.path);
      monitor = await this._monitorFor(panel.context.path, panel);
      // The next run starts: the marks of the last one's failures go.
      this._marksOf(panel).clear();
      const details = await this._client.start(startRequest(panel.context.path, choice));
      await monitor.content.follow(details);
    } catch (error) {
      // A monitor opened for this run alone, which never got one, goes again.
      if (opened && monitor && !monitor.content.model.id) {
        monitor.dispose();
      }
      if (error instanceof ChardRequestError && error.diagnostics.length > 0) {
        await this._showErrors(panel.context.path, error.diagnostics);
      } else {
        await showErrorMessage(
          this._trans.__('The pipeline did not start'),
          Private.message(error)
        );
      }
    }
  }

  /**
   * The notebook's errors, each where it is, in a dialog (the Pipeline sidebar lists them too):
   * why it did not run, or (`compile`) why it was not compiled.
   */
  private async _showErrors(
    path: string,
    errors: readonly IDiagnostic[],
    what: 'run' | 'compile' = 'run'
  ): Promise<void> {
    const t = this._trans;
    const body = document.createElement('div');
    body.className = 'jp-chard-RunErrors';
    const intro = document.createElement('p');
    intro.textContent =
      what === 'run'
        ? t._n(
            '%2 has an error, so nothing was run. Mend it, then run again:',
            '%2 has %1 errors, so nothing was run. Mend them, then run again:',
            errors.length,
            PathExt.basename(path)
          )
        : t._n(
            '%2 has an error, so it was not compiled. Mend it, then compile again:',
            '%2 has %1 errors, so it was not compiled. Mend them, then compile again:',
            errors.length,
            PathExt.basename(path)
          );
    const list = document.createElement('ul');
    list.className = 'jp-chard-RunErrors-list';
    for (const d of errors) {
      const item = document.createElement('li');
      const where = document.createElement('span');
      where.className = 'jp-chard-RunErrors-location';
      where.textContent = diagnosticLocation(d, t);
      const what = document.createElement('span');
      what.className = 'jp-chard-RunErrors-message';
      what.textContent = d.message;
      item.append(where, what);
      list.append(item);
    }
    body.append(intro, list);
    await showDialog({
      title:
        what === 'run' ? t.__('The pipeline did not start') : t.__('The pipeline did not compile'),
      body: new WidgetOf(body),
      buttons: [Dialog.okButton({ label: t.__('Close') })]
    });
  }

  async compile(target: 'argo' | 'kfp'): Promise<void> {
    const panel = this._notebooks.currentWidget;
    if (!panel) {
      return;
    }
    try {
      const errors = (await this._plan(panel))?.diagnostics.filter(d => d.severity === 'error');
      if (errors && errors.length > 0) {
        // Nothing would compile: say why here, before asking to save.
        await this._showErrors(panel.context.path, errors, 'compile');
        return;
      }
      if (panel.context.model.dirty && !(await this._offerSave(panel))) {
        return;
      }
      const result = await this._client.compile({ path: panel.context.path, target });
      const name = `${PathExt.basename(panel.context.path, '.ipynb')}.${target}.yaml`;
      const body = document.createElement('div');
      body.className = 'jp-chard-Manifest';
      for (const w of result.warnings) {
        const p = document.createElement('p');
        p.className = 'jp-chard-Manifest-warning';
        p.textContent = w;
        body.append(p);
      }
      const pre = document.createElement('pre');
      pre.className = 'jp-chard-Manifest-text';
      pre.textContent = result.text;
      body.append(pre);
      const download = Dialog.okButton({ label: this._trans.__('Download') });
      const answer = await showDialog({
        title: this._trans.__('%1 (compiled from the saved file)', name),
        body: new WidgetOf(body),
        buttons: [Dialog.cancelButton({ label: this._trans.__('Close') }), download]
      });
      if (answer.button.accept) {
        Private.download(name, result.text);
      }
    } catch (error) {
      const errors =
        error instanceof ChardRequestError
          ? error.diagnostics.filter(d => d.severity === 'error')
          : [];
      if (errors.length > 0) {
        await this._showErrors(panel.context.path, errors, 'compile');
      } else {
        await showErrorMessage(
          this._trans.__('The pipeline did not compile'),
          Private.message(error)
        );
      }
    }
  }

  async cancel(): Promise<void> {
    const id = this.current?.content.model.id;
    if (!id) {
      return;
    }
    try {
      await this._client.cancel(id);
    } catch (error) {
      await showErrorMessage(this._trans.__('The run was not cancelled'), Private.message(error));
    }
  }

  async openRuns(notebook?: string, run?: string): Promise<void> {
    const panel = this._notebooks.currentWidget;
    const path = notebook ?? panel?.context.path;
    if (!path) {
      return;
    }
    const monitor = await this._monitorFor(path, panel?.context.path === path ? panel : null);
    try {
      if (run) {
        await monitor.content.open(run);
      } else {
        await monitor.content.refreshHistory();
      }
    } catch (error) {
      await showErrorMessage(this._trans.__('The runs could not be read'), Private.message(error));
    }
  }

  private readonly _prepared = new Map<string, number>();
  private readonly _consented = new Set<string>();

  private async _plan(panel: NotebookPanel): Promise<IPlan | null> {
    const live = this._plans.planFor(panel);
    return live.plan ?? (await live.update());
  }

  private async _ask(
    panel: NotebookPanel,
    plan: IPlan | null,
    choice: IRunChoice
  ): Promise<IRunChoice | null> {
    const dirty = panel.context.model.dirty;
    const body = new RunDialogBody({
      trans: this._trans,
      path: panel.context.path,
      dirty,
      choice,
      parameters: plan?.parameters ?? []
    });
    const buttons = [
      Dialog.cancelButton({ label: this._trans.__('Cancel') }),
      ...(dirty
        ? [
            Dialog.okButton({
              label: this._trans.__('Save and Run'),
              ariaLabel: this._trans.__('Save the notebook, then run it'),
              actions: ['save']
            })
          ]
        : []),
      Dialog.okButton({
        label: dirty ? this._trans.__('Run the Saved File') : this._trans.__('Run')
      })
    ];
    const answer = await showDialog({
      title: this._trans.__('Run %1 as a pipeline', PathExt.basename(panel.context.path)),
      body,
      buttons,
      focusNodeSelector: 'select'
    });
    if (!answer.button.accept) {
      return null;
    }
    const value = body.getValue();
    // The target is remembered in the notebook (an edit the user asked for); saved with it
    // when the user chose to save.
    saveChoice(panel.context.model, value);
    if (answer.button.actions.includes('save') || !dirty) {
      await panel.context.save();
    }
    return value;
  }

  private async _offerSave(panel: NotebookPanel): Promise<boolean> {
    const answer = await showDialog({
      title: this._trans.__('Unsaved changes'),
      body: this._trans.__(
        '%1 has unsaved changes. Chard compiles the saved file: save it first?',
        PathExt.basename(panel.context.path)
      ),
      buttons: [
        Dialog.cancelButton({ label: this._trans.__('Cancel') }),
        Dialog.okButton({ label: this._trans.__('Use the Saved File'), actions: ['nosave'] }),
        Dialog.okButton({ label: this._trans.__('Save and Compile') })
      ]
    });
    if (!answer.button.accept) {
      return false;
    }
    if (!answer.button.actions.includes('nosave')) {
      await panel.context.save();
    }
    return true;
  }

  private async _monitorFor(
    path: string,
    panel: NotebookPanel | null
  ): Promise<MainAreaWidget<RunMonitor>> {
    let widget = this._tracker.find(w => w.content.notebook === path) ?? null;
    if (!widget) {
      // The monitor (with its charts and output renderers) loads when it is first needed, not
      // with JupyterLab.
      const { RunMonitor } = await import('./monitor.js');
      const content = new RunMonitor({
        client: this._client,
        trans: this._trans,
        rendermime: this._rendermime,
        notebook: path,
        onJump: failure => this._jump(path, failure),
        // TensorBoard is another plugin's command (absent when that plugin is disabled).
        onTensorBoard: this._app.commands.hasCommand(CommandIDs.openTensorBoard)
          ? run =>
              void this._app.commands.execute(CommandIDs.openTensorBoard, {
                notebook: path,
                runs: [run.id],
                ...(run.backend === 'local' ? {} : { target: 'cluster' })
              })
          : undefined
      });
      widget = new MainAreaWidget({ content });
      widget.id = `jp-chard-runs-${Private.counter()}`;
      // The failures of the run shown are marked on the notebook's cells.
      const mark = (): void => {
        const notebook = this._notebooks.find(p => p.context.path === path);
        if (notebook) {
          this._marksOf(notebook).show(content.model.failures);
        }
      };
      content.model.changed.connect(mark);
      content.disposed.connect(() => {
        const notebook = this._notebooks.find(p => p.context.path === path);
        if (notebook) {
          this._marksOf(notebook).clear();
        }
      });
      widget.title.label = this._trans.__('Runs: %1', PathExt.basename(path));
      widget.title.icon = runIcon;
      widget.title.closable = true;
      await this._tracker.add(widget);
      this._app.shell.add(widget, 'main', { mode: 'split-right' });
    }
    if (panel) {
      widget.content.states = this._plans.planFor(panel).states;
    }
    this._app.shell.activateById(widget.id);
    return widget;
  }

  /** The failure marks on a notebook's cells (made the first time they are asked for). */
  private _marksOf(panel: NotebookPanel): FailureMarks {
    let marks = this._marks.get(panel);
    if (!marks) {
      marks = new FailureMarks({
        panel,
        trans: this._trans,
        onShow: failure => {
          const widget = this._tracker.find(w => w.content.notebook === panel.context.path);
          if (widget && !widget.isDisposed) {
            this._app.shell.activateById(widget.id);
            void widget.content.selectStep(failure.step);
          }
        }
      });
      this._marks.set(panel, marks);
      const made = marks;
      panel.disposed.connect(() => made.dispose());
    }
    return marks;
  }

  private readonly _marks = new WeakMap<NotebookPanel, FailureMarks>();

  /** Show the notebook with the failed cell active, the cursor on the failing line. */
  private _jump(path: string, failure: IFailure): void {
    const panel = this._notebooks.find(p => p.context.path === path);
    if (!panel || failure.cell === null) {
      void this._app.commands.execute('docmanager:open', { path });
      return;
    }
    this._app.shell.activateById(panel.id);
    const notebook = panel.content;
    notebook.activeCellIndex = failure.cell;
    notebook.mode = 'edit';
    const cell = notebook.activeCell;
    if (cell && failure.line !== null) {
      cell.editor?.setCursorPosition({ line: Math.max(0, failure.line - 1), column: 0 });
    }
    if (cell) {
      void notebook.scrollToItem(failure.cell);
      cell.editor?.focus();
    }
  }
}

/** A plain node as a dialog body. */
class WidgetOf extends Widget {
  constructor(node: HTMLElement) {
    super({ node });
  }
}

namespace Private {
  /** Ask for a warm interpreter again after this long (the backend ends idle ones after 10 min). */
  export const PREPARE_AGAIN_MS = 5 * 60 * 1000;

  let count = 0;
  export function counter(): number {
    return ++count;
  }

  export function message(error: unknown): string {
    return error instanceof Error ? error.message : String(error);
  }

  export function download(name: string, text: string): void {
    const url = URL.createObjectURL(new Blob([text], { type: 'application/yaml' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    a.click();
    URL.revokeObjectURL(url);
  }
}
