/**
 * The run monitor (a main-area panel): the run's steps with their state and duration, updated
 * from the event stream; a failed step's error with a link to its cell and line; the selected
 * step's log tailing live with ANSI colours (JupyterLab's own stdout renderer, one renderer per
 * batch of lines, only the last lines kept in the page unless "Show all" is asked); Cancel,
 * Resume, Re-run from a step, TensorBoard on the run's logs; the notebook's run history, each
 * reopenable; the metrics of past runs side by side.
 */
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import type { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import type { IRunSummary } from '../core/api.js';
import type { IStepRecord } from '../core/runs.js';
import type { RunClient, IStream } from './client.js';
import { MetricsCharts } from './metricscharts.js';
import type { IMetricRun } from './metricscharts.js';
import { formatDuration, RunMonitorModel } from './runmodel.js';
import type { IFailure } from './runmodel.js';
import { StepOutputs } from './stepoutputs.js';
import type { IStepStates } from './tokens.js';

const STDOUT_MIME = 'application/vnd.jupyter.stdout';
/** How many of the notebook's last runs the metrics table and charts compare. */
const MAX_METRIC_RUNS = 10;

export class RunMonitor extends Widget {
  constructor(options: RunMonitor.IOptions) {
    super();
    this.addClass('jp-chard-Monitor');
    this._client = options.client;
    this._trans = options.trans;
    this._rendermime = options.rendermime;
    this._notebook = options.notebook;
    this._onJump = options.onJump;
    this._onTensorBoard = options.onTensorBoard ?? null;
    this._tailLines = options.tailLines ?? 500;
    this._charts = new MetricsCharts({ trans: this._trans });
    this._outputs = new StepOutputs({
      source: options.client,
      rendermime: options.rendermime,
      trans: options.trans
    });
    this.model.changed.connect(this._render, this);
    this.model.logAppended.connect(this._onLog, this);
    this._build();
  }

  readonly model = new RunMonitorModel();

  /** The notebook whose runs are shown (relative to the Jupyter root). */
  get notebook(): string {
    return this._notebook;
  }

  /** The DAG's and chips' states (the notebook's) follow the run shown. */
  set states(states: IStepStates | null) {
    this.model.states = states;
  }

  /** Show run `id` and follow its events. */
  async open(id: string): Promise<void> {
    this._stream?.close();
    const details = await this._client.get(id);
    this._show(details);
    void this.refreshHistory();
  }

  /** Follow a run just started or resumed (its events after `since`). */
  async follow(details: Parameters<RunMonitorModel['load']>[0]): Promise<void> {
    this._stream?.close();
    this._show(details);
    await this.refreshHistory();
  }

  async refreshHistory(): Promise<void> {
    try {
      this._history = await this._client.list(this._notebook);
    } catch (error) {
      this._say(error);
      return;
    }
    this._renderHistory();
    await this._renderMetrics();
  }

  /** Show a step's log (and follow it while the step runs). */
  async selectStep(step: string): Promise<void> {
    const id = this.model.id;
    if (!id) {
      return;
    }
    this._selected = step;
    this._showAll = false;
    this._logBody.textContent = '';
    this._logLines = [];
    this._logTitle.textContent = this._trans.__('Log of %1', step);
    // A cluster step's outputs come back in its log once it ended; KFP keeps them to itself.
    void this._outputs.showStep(id, step, this.model.record?.backend !== 'kfp');
    this._render();
    const known = this.model.log(step);
    if (known.length > 0) {
      this._appendLines(known.slice(-this._tailLines));
      return;
    }
    try {
      const chunks = await this._client.logs(id, step);
      if (this.model.id === id && this._selected === step && this.model.log(step).length === 0) {
        this.model.setLog(step, chunks.map(c => c.text).join(''));
      }
    } catch (error) {
      this._say(error);
    }
  }

  /** Repaint the metrics charts in the current theme (their canvas cannot follow CSS). */
  redrawCharts(): void {
    this._charts.redraw();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._stream?.close();
    this._charts.dispose();
    this._outputs.dispose();
    this.model.states = null;
    this.model.dispose();
    super.dispose();
  }

  /**
   * Show another run (or the same run again, resumed): the log pane keeps the step selected when
   * the run has a step of that name, and shows its log in this run; otherwise it says that no
   * step is selected. Lines of the run shown before that were waiting to be drawn are dropped.
   */
  private _show(details: Parameters<RunMonitorModel['load']>[0]): void {
    const keep = this._selected;
    this._selected = null;
    this._resetLog();
    this.model.load(details);
    this._follow(details.since ?? 0);
    if (keep !== null && this.model.step(keep)) {
      void this.selectStep(keep);
    }
  }

  /** The log pane with no step selected. */
  private _resetLog(): void {
    if (this._frame !== null) {
      cancelAnimationFrame(this._frame);
      this._frame = null;
    }
    this._pending = [];
    this._logLines = [];
    this._showAll = false;
    this._showAllNode.hidden = true;
    this._logBody.replaceChildren();
    void this._outputs.showStep(null, null);
    this._logTitle.textContent = this._trans.__('Select a step to see its log.');
  }

  protected onAfterShow(): void {
    this._charts.redraw();
  }

  private _follow(after: number): void {
    const id = this.model.id;
    if (!id || this.model.finished) {
      return;
    }
    this._stream = this._client.events(
      id,
      after,
      e => {
        this.model.apply(e);
        this._outputs.onEvent(e.event);
        if (e.event.event === 'run-finished') {
          void this.refreshHistory();
        }
      },
      {
        onError: message => this._say(message)
      }
    );
  }

  private _build(): void {
    const t = this._trans;
    const bar = document.createElement('div');
    bar.className = 'jp-chard-Monitor-bar';
    this._statusNode.className = 'jp-chard-Monitor-status';
    this._cancel = this._button(t.__('Cancel'), () => void this._do(() => this._cancelRun()));
    this._resume = this._button(t.__('Resume'), () => void this._do(() => this._resumeRun()));
    this._fromSelect.className = 'jp-mod-styled';
    this._fromSelect.setAttribute('aria-label', t.__('Step to re-run from'));
    this._rerun = this._button(t.__('Re-run from'), () => void this._do(() => this._rerunFrom()));
    bar.append(this._statusNode, this._cancel, this._resume, this._rerun, this._fromSelect);
    if (this._onTensorBoard) {
      const open = this._onTensorBoard;
      this._tensorBoard = this._button(t.__('Open TensorBoard'), () => {
        const record = this.model.record;
        if (record) {
          open({ id: record.id, backend: record.backend });
        }
      });
      this._tensorBoard.title = t.__("TensorBoard on the event files this run's steps wrote");
      bar.append(this._tensorBoard);
    }
    this._messageNode.className = 'jp-chard-Monitor-message';
    this._progressNode.className = 'jp-chard-Monitor-progress';
    this._failuresNode.className = 'jp-chard-Monitor-failures';
    this._stepsNode.className = 'jp-chard-Monitor-steps';
    const log = document.createElement('section');
    log.className = 'jp-chard-Monitor-log';
    this._logTitle.className = 'jp-chard-Monitor-logTitle';
    this._logTitle.textContent = t.__('Select a step to see its log.');
    this._showAllNode.className = 'jp-chard-Monitor-showAll';
    this._showAllNode.textContent = t.__('Show all');
    this._showAllNode.hidden = true;
    this._showAllNode.addEventListener('click', () => this._renderWholeLog());
    this._logBody.className = 'jp-chard-Monitor-logBody';
    log.append(this._logTitle, this._showAllNode, this._logBody, this._outputs.node);
    const history = document.createElement('section');
    history.className = 'jp-chard-Monitor-history';
    const historyTitle = document.createElement('h3');
    historyTitle.textContent = t.__('Runs of this notebook');
    this._historyNode.className = 'jp-chard-Monitor-historyList';
    this._metricsNode.className = 'jp-chard-Monitor-metrics';
    history.append(historyTitle, this._historyNode, this._metricsNode);
    this.node.append(
      bar,
      this._progressNode,
      this._messageNode,
      this._failuresNode,
      this._stepsNode,
      log,
      history
    );
  }

  private _button(label: string, onClick: () => void): HTMLButtonElement {
    const button = document.createElement('button');
    button.className = 'jp-mod-styled jp-chard-Monitor-button';
    button.textContent = label;
    button.addEventListener('click', onClick);
    return button;
  }

  private async _do(action: () => Promise<void>): Promise<void> {
    try {
      this._messageNode.textContent = '';
      await action();
    } catch (error) {
      this._say(error);
    }
  }

  private _say(error: unknown): void {
    this._messageNode.textContent =
      error instanceof Error ? error.message : typeof error === 'string' ? error : '';
  }

  private async _cancelRun(): Promise<void> {
    const id = this.model.id;
    if (id) {
      await this._client.cancel(id);
    }
  }

  private async _resumeRun(): Promise<void> {
    const id = this.model.id;
    if (id) {
      await this.follow(await this._client.resume(id));
    }
  }

  private async _rerunFrom(): Promise<void> {
    const id = this.model.id;
    const from = this._fromSelect.value;
    if (id && from) {
      await this.follow(await this._client.resume(id, { from }));
    }
  }

  private _render(): void {
    const t = this._trans;
    const m = this.model;
    this.title.label = m.id ? t.__('Run %1', m.id) : t.__('Pipeline Run');
    this._statusNode.textContent = m.status
      ? t.__('%1 · %2 · %3', m.record?.backend ?? '', m.id ?? '', Private.statusLabel(t, m.status))
      : '';
    this._statusNode.dataset.status = m.status ?? '';
    const local = m.record?.backend === 'local';
    this._cancel.disabled = m.finished || !m.id;
    this._resume.disabled = !m.finished || !local || m.status === 'succeeded';
    this._rerun.disabled = !m.finished || !local;
    this._fromSelect.disabled = this._rerun.disabled;
    if (this._tensorBoard) {
      this._tensorBoard.disabled = !m.record;
    }
    // A finished run's message names its failed steps, which the failures box says already.
    const failures = m.failures;
    this._progressNode.textContent = m.finished && failures.length > 0 ? '' : (m.message ?? '');
    this._renderSteps();
    this._renderFailures(failures);
    this._tick();
  }

  private _renderSteps(): void {
    const t = this._trans;
    const table = document.createElement('table');
    const head = table.createTHead().insertRow();
    for (const h of [t.__('Step'), t.__('State'), t.__('Duration')]) {
      const th = document.createElement('th');
      th.textContent = h;
      head.append(th);
    }
    const body = table.createTBody();
    const now = Date.now();
    const from = this._fromSelect.value;
    this._fromSelect.textContent = '';
    for (const step of this.model.steps) {
      const row = body.insertRow();
      row.className = `jp-chard-Monitor-step jp-mod-${step.status}`;
      row.dataset.step = step.name;
      if (step.name === this._selected) {
        row.classList.add('jp-mod-selected');
      }
      const name = row.insertCell();
      const link = document.createElement('button');
      link.className = 'jp-chard-Monitor-stepName';
      link.textContent = step.name;
      link.title = t.__('Show the log of %1', step.name);
      link.addEventListener('click', () => void this.selectStep(step.name));
      name.append(link);
      const state = row.insertCell();
      state.className = 'jp-chard-Monitor-state';
      state.textContent = Private.statusLabel(t, step.status);
      const duration = row.insertCell();
      duration.className = 'jp-chard-Monitor-duration';
      const ms = this.model.duration(step.name, now);
      duration.textContent = ms === null ? '' : formatDuration(ms);
      const option = document.createElement('option');
      option.value = step.name;
      option.textContent = step.name;
      this._fromSelect.append(option);
    }
    if (from) {
      this._fromSelect.value = from;
    }
    this._stepsNode.replaceChildren(table);
  }

  private _renderFailures(failures: IFailure[]): void {
    const t = this._trans;
    this._failuresNode.replaceChildren(
      ...failures.map(f => {
        const item = document.createElement('div');
        item.className = 'jp-chard-Monitor-failure';
        const text = document.createElement('span');
        text.textContent = t.__('%1 failed: %2', f.step, f.message);
        item.append(text);
        if (f.cell !== null) {
          const jump = document.createElement('button');
          jump.className = 'jp-mod-styled jp-chard-Monitor-jump';
          jump.textContent =
            f.line !== null
              ? t.__('Go to cell %1, line %2', f.cell + 1, f.line)
              : t.__('Go to cell %1', f.cell + 1);
          jump.addEventListener('click', () => this._onJump(f));
          item.append(jump);
        }
        return item;
      })
    );
  }

  /** Running steps' durations count up once a second while the run goes on. */
  private _tick(): void {
    if (this._timer !== null || this.model.finished || !this.model.id) {
      return;
    }
    this._timer = setTimeout(() => {
      this._timer = null;
      if (!this.isDisposed && !this.model.finished) {
        for (const row of this._stepsNode.querySelectorAll<HTMLElement>('tr[data-step]')) {
          const ms = this.model.duration(row.dataset.step ?? '');
          const cell = row.querySelector('.jp-chard-Monitor-duration');
          if (cell && ms !== null) {
            cell.textContent = formatDuration(ms);
          }
        }
        this._tick();
      }
    }, 1000);
  }

  private _onLog(
    _: RunMonitorModel,
    { step, lines }: { step: string; lines: readonly string[] }
  ): void {
    if (step !== this._selected) {
      return;
    }
    this._pending.push(...lines);
    if (this._frame === null) {
      this._frame = requestAnimationFrame(() => {
        this._frame = null;
        const batch = this._pending;
        this._pending = [];
        this._appendLines(batch);
      });
    }
  }

  /** Render a batch of lines as one stdout output (ANSI colours), dropping the oldest batches. */
  private _appendLines(all: readonly string[]): void {
    // A batch longer than the tail (a whole log fetched at once) is cut to its last lines too.
    const lines = this._showAll ? all : all.slice(-this._tailLines);
    if (lines.length === 0) {
      return;
    }
    const node = this._renderText(lines.join('\n') + '\n');
    this._logBody.append(node);
    this._logLines.push(lines.length);
    if (!this._showAll) {
      let total = this._logLines.reduce((a, b) => a + b, 0);
      while (total - this._logLines[0] >= this._tailLines && this._logLines.length > 1) {
        total -= this._logLines.shift() ?? 0;
        this._logBody.firstElementChild?.remove();
      }
      this._showAllNode.hidden = this.model.log(this._selected ?? '').length <= total;
    }
    this._logBody.scrollTop = this._logBody.scrollHeight;
  }

  private _renderWholeLog(): void {
    if (!this._selected) {
      return;
    }
    this._showAll = true;
    this._showAllNode.hidden = true;
    this._logLines = [];
    this._logBody.replaceChildren();
    this._appendLines(this.model.log(this._selected));
  }

  private _renderText(text: string): HTMLElement {
    const holder = document.createElement('div');
    holder.className = 'jp-chard-Monitor-logChunk';
    const renderer = this._rendermime.createRenderer(STDOUT_MIME);
    const model = this._rendermime.createModel({ data: { [STDOUT_MIME]: text }, trusted: false });
    void renderer.renderModel(model);
    holder.append(renderer.node);
    return holder;
  }

  private _renderHistory(): void {
    const t = this._trans;
    this._historyNode.replaceChildren(
      ...this._history.map(run => {
        const item = document.createElement('li');
        item.className = `jp-chard-Monitor-run jp-mod-${run.status}`;
        const open = document.createElement('button');
        open.className = 'jp-chard-Monitor-runLink';
        open.textContent = t.__(
          '%1 · %2 · %3 · %4',
          new Date(run.createdAt).toLocaleString(),
          run.backend,
          Private.statusLabel(t, run.status),
          run.id
        );
        if (run.id === this.model.id) {
          item.classList.add('jp-mod-current');
        }
        open.addEventListener('click', () => void this._do(() => this.open(run.id)));
        item.append(open);
        return item;
      })
    );
  }

  /**
   * The metrics of the last runs side by side: a table (a run per row, a metric per column)
   * and a small chart per numeric metric across the runs. Both list the runs oldest first,
   * numbered as the charts' x axis counts them.
   */
  private async _renderMetrics(): Promise<void> {
    const recent = [...this._history]
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id))
      .slice(-MAX_METRIC_RUNS);
    const runs: IMetricRun[] = [];
    for (const run of recent) {
      try {
        const steps = (await this._client.get(run.id)).record.steps;
        runs.push({ id: run.id, createdAt: run.createdAt, metrics: Private.metricsOf(steps) });
      } catch {
        // A run that cannot be read (a cluster gone) has no metrics to show.
      }
    }
    if (this.isDisposed) {
      return;
    }
    const names = [...new Set(runs.flatMap(r => Object.keys(r.metrics)))].sort();
    if (names.length === 0) {
      this._charts.update([]);
      this._metricsNode.replaceChildren();
      return;
    }
    const table = document.createElement('table');
    table.className = 'jp-chard-Monitor-metricsTable';
    const head = table.createTHead().insertRow();
    for (const h of ['#', this._trans.__('Run'), ...names]) {
      const th = document.createElement('th');
      th.textContent = h;
      head.append(th);
    }
    const body = table.createTBody();
    runs.forEach((r, i) => {
      const row = body.insertRow();
      row.insertCell().textContent = String(i + 1);
      row.insertCell().textContent = r.id;
      for (const name of names) {
        const value = r.metrics[name];
        row.insertCell().textContent = value === undefined ? '' : String(value);
      }
    });
    const title = document.createElement('h3');
    title.textContent = this._trans.__('Metrics of past runs');
    this._metricsNode.replaceChildren(title, table, this._charts.node);
    this._charts.update(runs);
  }

  private readonly _client: RunClient;
  private readonly _trans: TranslationBundle;
  private readonly _rendermime: IRenderMimeRegistry;
  private readonly _notebook: string;
  private readonly _onJump: (failure: IFailure) => void;
  private readonly _onTensorBoard: ((run: { id: string; backend: string }) => void) | null;
  private readonly _tailLines: number;
  private _stream: IStream | null = null;
  private _selected: string | null = null;
  private _history: IRunSummary[] = [];
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _frame: number | null = null;
  private _pending: string[] = [];
  private _logLines: number[] = [];
  private _showAll = false;
  private _cancel!: HTMLButtonElement;
  private _resume!: HTMLButtonElement;
  private _rerun!: HTMLButtonElement;
  private _tensorBoard: HTMLButtonElement | null = null;
  private readonly _fromSelect = document.createElement('select');
  private readonly _statusNode = document.createElement('div');
  private readonly _messageNode = document.createElement('div');
  private readonly _progressNode = document.createElement('div');
  private readonly _failuresNode = document.createElement('div');
  private readonly _stepsNode = document.createElement('div');
  private readonly _logTitle = document.createElement('h3');
  private readonly _showAllNode = document.createElement('button');
  private readonly _logBody = document.createElement('div');
  private readonly _historyNode = document.createElement('ul');
  private readonly _metricsNode = document.createElement('div');
  private readonly _charts: MetricsCharts;
  private readonly _outputs: StepOutputs;
}

export namespace RunMonitor {
  export interface IOptions {
    client: RunClient;
    trans: TranslationBundle;
    rendermime: IRenderMimeRegistry;
    notebook: string;
    onJump: (failure: IFailure) => void;
    /** Open TensorBoard on a run's logs (no "Open TensorBoard" button without it). */
    onTensorBoard?: (run: { id: string; backend: string }) => void;
    /** Log lines kept in the page (default 500); "Show all" renders the rest. */
    tailLines?: number;
  }
}

namespace Private {
  /** A run's metrics, from all its steps. */
  export function metricsOf(
    steps: readonly IStepRecord[]
  ): Record<string, number | string | boolean> {
    return Object.assign({}, ...steps.map(s => s.metrics)) as Record<
      string,
      number | string | boolean
    >;
  }

  export function statusLabel(t: TranslationBundle, status: string): string {
    switch (status) {
      case 'pending':
        return t.__('pending');
      case 'running':
        return t.__('running');
      case 'succeeded':
        return t.__('succeeded');
      case 'failed':
        return t.__('failed');
      case 'skipped':
        return t.__('skipped');
      case 'cancelled':
        return t.__('cancelled');
      case 'cached':
        return t.__('cached');
      default:
        return status;
    }
  }
}
