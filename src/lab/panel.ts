/**
 * The "Pipeline" sidebar: the plan of the active notebook as Chard computes it in the browser.
 * Two sections: the DAG drawn as a graph (a click on a step selects its first cell), and the
 * details: steps (cells, inputs, outputs, parents; the selected step highlighted and scrolled
 * to), parameters, metrics and diagnostics; a click on a step or a diagnostic selects its cell
 * and scrolls to it. While a large notebook is parsed in Web Workers, a line says so above the
 * last plan.
 */
import { PathExt } from '@jupyterlab/coreutils';
import type { NotebookPanel } from '@jupyterlab/notebook';
import { nullTranslator } from '@jupyterlab/translation';
import type { ITranslator, TranslationBundle } from '@jupyterlab/translation';
import { SidePanel } from '@jupyterlab/ui-components';
import { h, VirtualDOM } from '@lumino/virtualdom';
import type { ElementAttrs, VirtualElement } from '@lumino/virtualdom';
import { Widget } from '@lumino/widgets';
import type { IPlan } from '../core/plan.js';
import { DagModel } from './dagmodel.js';
import { DagView } from './dagview.js';
import type { ICellRequest } from './dagview.js';
import { pipelineIcon } from './icons.js';
import { PipelineSettingsView } from './settingsview.js';
import { planView, progressLabel, stepOfCell } from './planview.js';
import type { IDiagnosticView, IPlanView, IStepView } from './planview.js';
import type { IBackendStatus, IChardBackend, IChardPlans, INotebookPlan } from './tokens.js';
import { INSTALL_COMMAND } from './request.js';

export class PipelinePanel extends SidePanel {
  constructor(options: PipelinePanel.IOptions) {
    const translator = options.translator ?? nullTranslator;
    super({ translator });
    this._bundle = translator.load('jupyterlab-chard');
    this._plans = options.plans;
    this.id = PipelinePanel.ID;
    this.addClass('jp-chard-Pipeline');
    this.title.icon = pipelineIcon;
    this.title.caption = this._bundle.__('Pipeline (Chard)');
    const heading = new Widget({ node: document.createElement('h2') });
    heading.addClass('jp-chard-Pipeline-title');
    heading.node.textContent = this._bundle.__('Pipeline');
    this.header.addWidget(heading);
    this._dag = new DagView({ translator });
    this._dag.model = this._dagModel;
    this._dag.title.label = this._bundle.__('Graph');
    this._dag.cellRequested.connect(this._onCellRequested, this);
    this.addWidget(this._dag);
    this._body.addClass('jp-chard-Pipeline-body');
    this._statusNode.className = 'jp-chard-Pipeline-status';
    this._backendNode.className = 'jp-chard-Pipeline-backend';
    this._body.node.append(this._backendNode, this._statusNode, this._planNode);
    this.addWidget(this._body);
    this._backend = options.backend ?? null;
    this._backend?.statusChanged.connect(this._renderBackend, this);
    this._settings = new PipelineSettingsView(this._bundle);
    this._settings.title.label = this._bundle.__('Settings');
    this.addWidget(this._settings);
    this._render();
    this._renderBackend();
  }

  /** The notebook whose plan is shown (the active one), or null. */
  get notebook(): NotebookPanel | null {
    return this._notebook;
  }

  set notebook(panel: NotebookPanel | null) {
    if (panel === this._notebook) {
      return;
    }
    this._live?.planChanged.disconnect(this._onPlan, this);
    this._live?.analysingChanged.disconnect(this._renderStatus, this);
    this._notebook?.content.activeCellChanged.disconnect(this._onActiveCell, this);
    this._notebook?.context.pathChanged.disconnect(this._onActiveCell, this);
    this._notebook = panel;
    this._live = null;
    if (panel && !panel.isDisposed) {
      const live = this._plans.planFor(panel);
      this._live = live;
      live.planChanged.connect(this._onPlan, this);
      live.analysingChanged.connect(this._renderStatus, this);
      panel.content.activeCellChanged.connect(this._onActiveCell, this);
      panel.context.pathChanged.connect(this._onActiveCell, this);
      this._dagModel.states = live.states;
      if (!live.plan) {
        void panel.context.ready.then(() => {
          if (this._live === live && !live.isDisposed && !live.plan) {
            void live.update();
          }
        });
      }
    }
    this._render();
  }

  /** The DAG section (its model holds the shown notebook's plan and step states). */
  get dag(): DagView {
    return this._dag;
  }

  /** Select cell `index` of the shown notebook and scroll it into view. */
  revealCell(index: number): void {
    const panel = this._notebook;
    if (!panel || panel.isDisposed) {
      return;
    }
    const notebook = panel.content;
    if (index < 0 || index >= notebook.widgets.length) {
      return;
    }
    notebook.mode = 'command';
    notebook.deselectAll();
    notebook.activeCellIndex = index;
    void notebook.scrollToItem(index, 'smart');
    notebook.activate();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._backend?.statusChanged.disconnect(this._renderBackend, this);
    this.notebook = null;
    this._dagModel.dispose();
    super.dispose();
  }

  private _onPlan(): void {
    this._render();
  }

  /** A step (or the prelude) was clicked in the graph: select its cell. */
  private _onCellRequested(_: DagView, request: ICellRequest): void {
    this.revealCell(request.cell);
  }

  /** The active cell or the file name changed. */
  private _onActiveCell(): void {
    this._render();
  }

  private _render(): void {
    const plan = this._live?.plan ?? null;
    this._dagModel.plan = plan;
    this._settings.setSource(plan, this._notebook?.content.model ?? null);
    // The section header names the notebook whose plan is shown.
    this._body.title.label = this._notebook
      ? PathExt.basename(this._notebook.context.path)
      : this._bundle.__('No notebook');
    let content: VirtualElement[];
    if (!this._notebook) {
      content = [Private.note(this._bundle.__('Open a notebook to see its pipeline.'))];
    } else if (plan) {
      content = this._planContent(plan);
    } else {
      content = [];
    }
    VirtualDOM.render(content, this._planNode);
    this._renderStatus();
    // The detail of the selected step: scrolled into view when the selection moves to it.
    const selected = this._dagModel.selected;
    if (selected !== this._shownSelected) {
      this._shownSelected = selected;
      this._planNode
        .querySelector('.jp-chard-Step.jp-mod-active')
        ?.scrollIntoView?.({ block: 'nearest' });
    }
  }

  /** The progress line of an analysis in Web Workers, and the parse counts of the notebook. */
  private _renderStatus(): void {
    const live = this._live;
    const progress = live?.analysing ?? null;
    let status: VirtualElement | null = null;
    if (progress) {
      status = h.div(
        { className: 'jp-chard-Pipeline-progress', role: 'status' },
        h.span({ className: 'jp-chard-Spinner' }),
        progressLabel(progress, this._bundle)
      );
    } else if (live && !live.plan) {
      status = Private.note(this._bundle.__('Analysing the notebook…'));
    }
    VirtualDOM.render(status, this._statusNode);
    // How many of the shown notebook's cells were parsed, and how many in Web Workers.
    const data = this._body.node.dataset;
    if (live) {
      data.chardCellsParsed = String(live.parsed.cells);
      data.chardCellsParsedInWorkers = String(live.parsed.inWorkers);
    } else {
      delete data.chardCellsParsed;
      delete data.chardCellsParsedInWorkers;
    }
  }

  /** A line about Chard's server backend when it is not ready: what is wrong, what to do. */
  private _renderBackend(): void {
    const status = this._backend?.status ?? null;
    const text = status ? Private.backendText(status, this._bundle) : null;
    VirtualDOM.render(
      text && status
        ? h.div(
            {
              className: `jp-chard-Backend jp-mod-${status.state}`,
              role: 'status',
              dataset: { chardBackend: status.state }
            },
            text
          )
        : null,
      this._backendNode
    );
  }

  private _planContent(plan: IPlan): VirtualElement[] {
    const trans = this._bundle;
    const view = planView(plan, trans);
    const active = this._notebook?.content.activeCellIndex ?? -1;
    const activeStep = stepOfCell(plan).get(active) ?? null;
    this._dagModel.selected = activeStep;
    const out: VirtualElement[] = [h.div({ className: 'jp-chard-Pipeline-summary' }, view.summary)];
    if (view.proposed) {
      out.push(
        h.div(
          { className: 'jp-chard-Pipeline-proposed' },
          h.span({ className: 'jp-chard-Badge' }, trans.__('Proposed plan')),
          h.span(
            {},
            trans.__(
              'No cell has a step tag, so these steps are proposed from the headings. Tag cells with "Make Step…" to define your own.'
            )
          )
        )
      );
    }
    out.push(this._section(trans.__('Steps'), 'steps', this._steps(view, activeStep)));
    if (view.parameters.length > 0) {
      out.push(this._section(trans.__('Parameters'), 'parameters', this._parameters(view)));
    }
    if (view.metrics.length > 0) {
      out.push(this._section(trans.__('Metrics'), 'metrics', this._metrics(view)));
    }
    out.push(this._section(trans.__('Diagnostics'), 'diagnostics', this._diagnostics(view)));
    return out;
  }

  private _section(title: string, kind: string, body: VirtualElement): VirtualElement {
    return h.section(
      { className: `jp-chard-Section jp-chard-Section-${kind}` },
      h.h3({ className: 'jp-chard-Section-title' }, title),
      body
    );
  }

  private _clickable(cell: number | null): ElementAttrs {
    if (cell === null) {
      return {};
    }
    return {
      tabindex: '0',
      role: 'button',
      dataset: { 'chard-cell': String(cell) },
      onclick: () => this.revealCell(cell),
      onkeydown: (event: KeyboardEvent) => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          this.revealCell(cell);
        }
      }
    };
  }

  private _steps(view: IPlanView, activeStep: string | null): VirtualElement {
    if (view.steps.length === 0) {
      return Private.note(this._bundle.__('No steps: the notebook has no code cells to run.'));
    }
    return h.ul(
      { className: 'jp-chard-StepList' },
      view.steps.map(step => this._step(step, step.name === activeStep))
    );
  }

  private _step(step: IStepView, active: boolean): VirtualElement {
    const trans = this._bundle;
    const classes = ['jp-chard-Step'];
    if (active) {
      classes.push('jp-mod-active');
    }
    if (step.errors > 0) {
      classes.push('jp-mod-error');
    } else if (step.warnings > 0) {
      classes.push('jp-mod-warning');
    }
    const fields: [string, string, string[]][] = [
      [trans.__('Inputs'), 'inputs', step.inputs],
      [trans.__('Outputs'), 'outputs', step.outputs],
      [trans.__('Parents'), 'parents', step.parents]
    ];
    if (step.parameters.length > 0) {
      fields.push([trans.__('Parameters'), 'parameters', step.parameters]);
    }
    if (step.metrics.length > 0) {
      fields.push([trans.__('Metrics'), 'metrics', step.metrics]);
    }
    return h.li(
      {
        className: classes.join(' '),
        title: trans.__('Select the first cell of step %1', step.name),
        ...this._clickable(step.firstCell)
      },
      h.div(
        { className: 'jp-chard-Step-header' },
        h.span({ className: 'jp-chard-Step-name' }, step.name),
        h.span({ className: 'jp-chard-Step-cells' }, step.cellsLabel)
      ),
      h.dl(
        { className: 'jp-chard-Step-fields' },
        fields.flatMap(([label, kind, names]) => [
          h.dt({ className: 'jp-chard-Step-label' }, label),
          h.dd(
            { className: `jp-chard-Step-${kind}` },
            names.length > 0
              ? names.map(n => h.code({ className: 'jp-chard-Name' }, n))
              : h.span({ className: 'jp-chard-None' }, trans.__('none'))
          )
        ])
      )
    );
  }

  private _parameters(view: IPlanView): VirtualElement {
    return h.ul(
      { className: 'jp-chard-ParameterList' },
      view.parameters.map(p =>
        h.li(
          { className: 'jp-chard-Parameter', ...this._clickable(p.cell) },
          h.code({ className: 'jp-chard-Name' }, p.name),
          h.span({ className: 'jp-chard-Parameter-value' }, `= ${p.value}`),
          h.span({ className: 'jp-chard-Parameter-type' }, p.type)
        )
      )
    );
  }

  private _metrics(view: IPlanView): VirtualElement {
    return h.ul(
      { className: 'jp-chard-MetricList' },
      view.metrics.map(m =>
        h.li(
          { className: 'jp-chard-Metric', ...this._clickable(m.cell) },
          h.code({ className: 'jp-chard-Name' }, m.name),
          h.span(
            { className: 'jp-chard-Metric-step' },
            m.step === null
              ? this._bundle.__('recorded by no step')
              : this._bundle.__('recorded by %1', m.step)
          )
        )
      )
    );
  }

  private _diagnostics(view: IPlanView): VirtualElement {
    if (view.diagnostics.length === 0) {
      return Private.note(this._bundle.__('No problems found.'));
    }
    return h.ul(
      { className: 'jp-chard-DiagnosticList' },
      view.diagnostics.map(d => this._diagnostic(d))
    );
  }

  private _diagnostic(d: IDiagnosticView): VirtualElement {
    const trans = this._bundle;
    return h.li(
      {
        className: `jp-chard-Diagnostic jp-mod-${d.severity}`,
        ...this._clickable(d.cell)
      },
      h.span(
        { className: 'jp-chard-Diagnostic-severity' },
        d.severity === 'error' ? trans.__('error') : trans.__('warning')
      ),
      h.span({ className: 'jp-chard-Diagnostic-location' }, d.location),
      h.span({ className: 'jp-chard-Diagnostic-message' }, d.message)
    );
  }

  private readonly _bundle: TranslationBundle;
  private readonly _dag: DagView;
  private readonly _settings: PipelineSettingsView;
  private readonly _dagModel = new DagModel();
  private _shownSelected: string | null = null;
  private readonly _plans: IChardPlans;
  private readonly _body = new Widget();
  /** The progress line (or the note before the first plan) above the plan. */
  private readonly _statusNode = document.createElement('div');
  private readonly _planNode = document.createElement('div');
  private readonly _backendNode = document.createElement('div');
  private readonly _backend: IChardBackend | null;
  private _notebook: NotebookPanel | null = null;
  private _live: INotebookPlan | null = null;
}

export namespace PipelinePanel {
  export const ID = 'jp-chard-pipeline';

  export interface IOptions {
    plans: IChardPlans;
    /** Chard's server backend, whose trouble the sidebar reports (none: not reported). */
    backend?: IChardBackend;
    translator?: ITranslator;
  }
}

namespace Private {
  export function note(text: string): VirtualElement {
    return h.p({ className: 'jp-chard-Note' }, text);
  }

  /** What the sidebar says about the backend, or null when there is nothing to say. */
  export function backendText(status: IBackendStatus, trans: TranslationBundle): string | null {
    const detail = status.message ? ` (${status.message})` : '';
    switch (status.state) {
      case 'unknown':
      case 'ready':
        return null;
      case 'starting':
        return trans.__("Chard's server backend is starting…");
      case 'restarting':
        return trans.__("Chard's server backend stopped and is being restarted…");
      case 'down':
        return trans.__(
          "Chard's server backend is down%1. Restart JupyterLab; the Jupyter server's log says why it stopped.",
          detail
        );
      case 'not-installed':
        return trans.__(
          'The Chard server extension is not installed or not enabled, so pipelines cannot be run from here: %1, then restart JupyterLab. The plan below still works.',
          INSTALL_COMMAND
        );
      case 'unreachable':
        return trans.__(
          "Cannot reach Chard's server backend%1. Is the Jupyter server running?",
          detail
        );
    }
  }
}
