/**
 * @jest-environment jsdom
 *
 * The run monitor widget as a user sees it: each step's state and duration from the event
 * stream, Cancel / Resume / Re-run enabled when they can act, the failure with its cell and
 * line, the log pane (the selected step's log, live lines, "Show all", and which step it shows
 * after the run shown changes), and the metrics of past runs as a table and a chart per
 * metric. The client is a RunClient whose requests are answered in memory; the log is drawn by
 * JupyterLab's own stdout renderer.
 */
import type { IRenderMimeRegistry, MimeModel as IMimeModel } from '@jupyterlab/rendermime';
import { nullTranslator } from '@jupyterlab/translation';
import type { IRunDetails, IRunEventEnvelope, IRunSummary } from '../../src/core/api.js';
import type { ICancelRunResponse, ILogChunk } from '../../src/core/httpapi.js';
import type { IStepOutputs } from '../../src/core/richoutputs.js';
import type { IRunRecord, IStepRecord, RunEvent, StepStatus } from '../../src/core/runs.js';
import { RunClient } from '../../src/lab/client.js';
import type { IStream } from '../../src/lab/client.js';
import type { IFailure } from '../../src/lab/runmodel.js';

// jsdom lacks what some modules use when they load: Lumino's drag and drop (DragEvent) and
// uPlot (matchMedia for the screen's pixel ratio); and uPlot draws on a canvas, which jsdom
// cannot. Those are stood in for (the canvas records what was stroked, in what colour) before
// the widgets are imported.
(globalThis as { DragEvent?: unknown }).DragEvent ??= class DragEvent extends MouseEvent {};
// The server settings name fetch, Request and Headers; the client here never sends a request.
const g = globalThis as { fetch?: unknown; Request?: unknown; Headers?: unknown };
g.fetch ??= () => Promise.reject(new Error('no network in this test'));
g.Request ??= class Request {};
g.Headers ??= class Headers {};
window.matchMedia ??= ((query: string) => ({
  matches: false,
  media: query,
  onchange: null,
  addEventListener: () => undefined,
  removeEventListener: () => undefined,
  addListener: () => undefined,
  removeListener: () => undefined,
  dispatchEvent: () => false
})) as typeof window.matchMedia;

/** What the charts' canvases were asked to stroke, with the colour in effect. */
const strokes: string[] = [];

class FakePath2D {
  moveTo(): void {}
  lineTo(): void {}
  arc(): void {}
  rect(): void {}
  closePath(): void {}
  bezierCurveTo(): void {}
  addPath(): void {}
}
(globalThis as { Path2D?: unknown }).Path2D ??= FakePath2D;

HTMLCanvasElement.prototype.getContext = function (this: HTMLCanvasElement) {
  const state: Record<string | symbol, unknown> = { strokeStyle: '', fillStyle: '' };
  return new Proxy(state, {
    get(target, key) {
      if (key in target) {
        return target[key];
      }
      if (key === 'stroke') {
        return () => strokes.push(String(target.strokeStyle));
      }
      if (key === 'measureText') {
        return (text: string) => ({ width: text.length * 6 });
      }
      return () => undefined;
    },
    set(target, key, value) {
      target[key] = value;
      return true;
    }
  });
} as unknown as typeof HTMLCanvasElement.prototype.getContext;

// JupyterLab's own stdout renderer and MIME model (the registry module would load all of
// JupyterLab's icons): the monitor asks the registry for these two things only.
const { textRendererFactory } = await import('@jupyterlab/rendermime/lib/factories.js');
const { MimeModel } = await import('@jupyterlab/rendermime/lib/mimemodel.js');
const rendermime = {
  createRenderer: (mimeType: string) =>
    textRendererFactory.createRenderer({
      mimeType,
      sanitizer: { sanitize: (html: string) => html },
      resolver: null,
      linkHandler: null,
      latexTypesetter: null
    }),
  createModel: (options: IMimeModel.IOptions) => new MimeModel(options)
} as unknown as IRenderMimeRegistry;
const { Widget } = await import('@lumino/widgets');
const { RunMonitor } = await import('../../src/lab/monitor.js');
type Monitor = InstanceType<typeof RunMonitor>;

const T0 = Date.parse('2026-12-05T01:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

function step(name: string, over: Partial<IStepRecord> = {}): IStepRecord {
  return {
    name,
    id: name,
    status: 'pending',
    startedAt: null,
    finishedAt: null,
    exitCode: null,
    message: null,
    cell: null,
    line: null,
    metrics: {},
    outputs: [],
    ...over
  };
}

function record(id: string, over: Partial<IRunRecord> = {}): IRunRecord {
  return {
    version: 1,
    id,
    backend: 'local',
    pipeline: 'churn',
    notebook: 'churn.ipynb',
    status: 'running',
    createdAt: at(0),
    startedAt: at(0),
    finishedAt: null,
    parameters: {},
    steps: [step('load'), step('train')],
    message: null,
    ...over
  };
}

const details = (r: IRunRecord, since = 0): IRunDetails => ({
  record: r,
  dir: `/nb/.chard/runs/${r.id}`,
  notebook: '/nb/churn.ipynb',
  workspace: null,
  since
});

/** A RunClient whose answers come from memory; the test sends the run's events. */
class MemoryClient extends RunClient {
  readonly runs = new Map<string, IRunDetails>();
  readonly logTexts = new Map<string, string>();
  readonly cancelled: string[] = [];
  readonly resumed: { id: string; from?: string }[] = [];
  /** What resume answers (the run resumed). */
  resumeAnswer: IRunDetails | null = null;
  private _listeners: ((e: IRunEventEnvelope) => void)[] = [];
  private _seq = 0;

  add(r: IRunRecord): IRunDetails {
    const d = details(r);
    this.runs.set(r.id, d);
    return d;
  }

  /** Deliver events to the monitor following the run. */
  send(...events: RunEvent[]): void {
    for (const event of events) {
      const envelope = { seq: ++this._seq, event };
      for (const listener of this._listeners) {
        listener(envelope);
      }
    }
  }

  override get(id: string): Promise<IRunDetails> {
    const d = this.runs.get(id);
    return d ? Promise.resolve(d) : Promise.reject(new Error(`run ${id} not found`));
  }

  override list(): Promise<IRunSummary[]> {
    return Promise.resolve(
      [...this.runs.values()].map(({ record: r, dir }) => ({
        id: r.id,
        backend: r.backend,
        pipeline: r.pipeline,
        notebook: r.notebook,
        status: r.status,
        createdAt: r.createdAt,
        startedAt: r.startedAt,
        finishedAt: r.finishedAt,
        message: r.message,
        dir
      }))
    );
  }

  override logs(id: string, stepName: string): Promise<ILogChunk[]> {
    const text = this.logTexts.get(`${id}/${stepName}`) ?? '';
    return Promise.resolve(text ? [{ step: stepName, text, final: true }] : []);
  }

  override events(_id: string, after: number, onEvent: (e: IRunEventEnvelope) => void): IStream {
    this._seq = after;
    this._listeners = [onEvent];
    return { close: () => (this._listeners = []) };
  }

  /** The runs and steps whose outputs were asked for. */
  readonly outputsAsked: string[] = [];

  override stepOutputs(id: string, step: string): Promise<IStepOutputs> {
    this.outputsAsked.push(`${id}/${step}`);
    return Promise.resolve({ step, outputs: [], truncated: null });
  }

  override cancel(id: string): Promise<ICancelRunResponse> {
    this.cancelled.push(id);
    return Promise.resolve({ record: this.runs.get(id)?.record ?? null, how: 'requested' });
  }

  override resume(id: string, request: { from?: string } = {}): Promise<IRunDetails> {
    this.resumed.push({ id, ...request });
    if (!this.resumeAnswer) {
      return Promise.reject(new Error('no resume answer'));
    }
    this.runs.set(this.resumeAnswer.record.id, this.resumeAnswer);
    return Promise.resolve(this.resumeAnswer);
  }
}

const started = (run: string, name: string, s: number): RunEvent => ({
  event: 'step-started',
  run,
  time: at(s),
  step: name
});
const finished = (
  run: string,
  name: string,
  s: number,
  status: StepStatus,
  where: { cell?: number; line?: number; message?: string } = {}
): RunEvent => ({
  event: 'step-finished',
  run,
  time: at(s),
  step: name,
  status: status as 'succeeded',
  exitCode: status === 'succeeded' ? 0 : 1,
  message: where.message ?? null,
  cell: where.cell ?? null,
  line: where.line ?? null
});
const runFinished = (run: string, s: number, status: 'succeeded' | 'failed' | 'cancelled') =>
  ({ event: 'run-finished', run, time: at(s), status, message: null }) as RunEvent;
const log = (run: string, name: string, line: string): RunEvent => ({
  event: 'log',
  run,
  time: at(0),
  step: name,
  stream: 'stdout',
  line
});

/** Let promises (the client's answers) settle, and one animation frame pass. */
const settle = () => new Promise(resolve => setTimeout(resolve, 40));

let client: MemoryClient;
let monitor: Monitor;
let jumps: IFailure[];

let tensorBoards: { id: string; backend: string }[];

function make(tailLines?: number, withTensorBoard = true): Monitor {
  client = new MemoryClient();
  jumps = [];
  tensorBoards = [];
  monitor = new RunMonitor({
    client,
    trans: nullTranslator.load('jupyterlab-chard'),
    rendermime,
    notebook: 'churn.ipynb',
    onJump: f => jumps.push(f),
    onTensorBoard: withTensorBoard ? run => tensorBoards.push(run) : undefined,
    tailLines
  });
  Widget.attach(monitor, document.body);
  return monitor;
}

afterEach(() => {
  monitor.dispose();
  strokes.length = 0;
});

const q = <T extends Element = HTMLElement>(selector: string): T => {
  const e = monitor.node.querySelector<T>(selector);
  if (!e) {
    throw new Error(`no ${selector}`);
  }
  return e;
};
const button = (label: string): HTMLButtonElement => {
  const b = [...monitor.node.querySelectorAll('button')].find(x => x.textContent === label);
  if (!b) {
    throw new Error(`no button ${label}`);
  }
  return b;
};
/** The steps table as [name, state, duration] rows. */
const rows = (): string[][] =>
  [...monitor.node.querySelectorAll('tr.jp-chard-Monitor-step')].map(tr =>
    [...tr.querySelectorAll('td')].map(td => td.textContent ?? '')
  );
const logText = () => q('.jp-chard-Monitor-logBody').textContent ?? '';
const logTitle = () => q('.jp-chard-Monitor-logTitle').textContent;

describe('RunMonitor: steps, states and durations', () => {
  it('shows each step go pending → running → its end, with its duration', async () => {
    make();
    await monitor.follow(client.add(record('run-1')));
    expect(rows()).toEqual([
      ['load', 'pending', ''],
      ['train', 'pending', '']
    ]);
    client.send(started('run-1', 'load', 1));
    expect(rows()[0].slice(0, 2)).toEqual(['load', 'running']);
    expect(q('tr[data-step="load"]').classList).toContain('jp-mod-running');
    client.send(finished('run-1', 'load', 2.5, 'succeeded'), started('run-1', 'train', 2.5));
    client.send(finished('run-1', 'train', 2.5 + 245, 'succeeded'));
    client.send(runFinished('run-1', 250, 'succeeded'));
    expect(rows()).toEqual([
      ['load', 'succeeded', '1.5 s'],
      ['train', 'succeeded', '4 min 05 s']
    ]);
    expect(q('.jp-chard-Monitor-status').dataset.status).toBe('succeeded');
  });

  it("shows the run's progress messages, then how it ended", async () => {
    make();
    await monitor.follow(client.add(record('run-1')));
    const progress = () => q('.jp-chard-Monitor-progress');
    expect(progress().textContent).toBe('');
    client.send({
      event: 'progress',
      run: 'run-1',
      time: at(1),
      message: 'snapshotting the workspace (2 of 3 volumes)'
    });
    expect(progress().textContent).toBe('snapshotting the workspace (2 of 3 volumes)');
    expect(progress().isConnected).toBe(true);
    client.send({
      event: 'run-finished',
      run: 'run-1',
      time: at(9),
      status: 'failed',
      message: 'interrupted: the runner process is gone'
    });
    expect(progress().textContent).toBe('interrupted: the runner process is gone');
  });

  it('marks skipped and cancelled steps, and a failure with a jump to its cell and line', async () => {
    make();
    await monitor.follow(client.add(record('run-1')));
    client.send(
      started('run-1', 'load', 1),
      finished('run-1', 'load', 2, 'failed', {
        cell: 3,
        line: 2,
        message: "NameError: name 'x' is not defined"
      }),
      finished('run-1', 'train', 2, 'skipped'),
      {
        event: 'run-finished',
        run: 'run-1',
        time: at(2),
        status: 'failed',
        message: 'step "load" failed in cell 4, line 2: NameError: name \'x\' is not defined'
      }
    );
    expect(rows().map(r => r[1])).toEqual(['failed', 'skipped']);
    // said once, in the failures box, not again as the run's message
    expect(q('.jp-chard-Monitor-progress').textContent).toBe('');
    const failure = q('.jp-chard-Monitor-failure');
    expect(failure.textContent).toContain("load failed: NameError: name 'x' is not defined");
    // Cell index 3 is "cell 4" to the user, as JupyterLab numbers cells.
    const jump = failure.querySelector('button')!;
    expect(jump.textContent).toBe('Go to cell 4, line 2');
    jump.click();
    expect(jumps).toEqual([
      { step: 'load', cell: 3, line: 2, message: "NameError: name 'x' is not defined" }
    ]);
  });
});

describe('RunMonitor: Cancel, Resume and Re-run', () => {
  it('enables Cancel while the run goes on, Resume and Re-run once a local run is over', async () => {
    make();
    await monitor.follow(client.add(record('run-1')));
    const enabled = () => ['Cancel', 'Resume', 'Re-run from'].map(label => !button(label).disabled);
    expect(enabled()).toEqual([true, false, false]);
    button('Cancel').click();
    await settle();
    expect(client.cancelled).toEqual(['run-1']);
    client.send(
      finished('run-1', 'load', 1, 'cancelled'),
      finished('run-1', 'train', 1, 'cancelled')
    );
    client.send(runFinished('run-1', 1, 'cancelled'));
    expect(rows().map(r => r[1])).toEqual(['cancelled', 'cancelled']);
    expect(enabled()).toEqual([false, true, true]);
  });

  it('offers no Resume after a success, and neither Resume nor Re-run for a cluster run', async () => {
    make();
    await monitor.follow(client.add(record('run-1')));
    client.send(runFinished('run-1', 1, 'succeeded'));
    expect(button('Resume').disabled).toBe(true);
    expect(button('Re-run from').disabled).toBe(false);
    await monitor.follow(client.add(record('wf-2', { backend: 'argo', status: 'failed' })));
    expect(button('Cancel').disabled).toBe(true);
    expect(button('Resume').disabled).toBe(true);
    expect(button('Re-run from').disabled).toBe(true);
  });

  it('opens TensorBoard on the run shown, local or on a cluster', async () => {
    make();
    await monitor.follow(client.add(record('run-1')));
    button('Open TensorBoard').click();
    await monitor.follow(client.add(record('wf-2', { backend: 'argo', status: 'succeeded' })));
    button('Open TensorBoard').click();
    expect(tensorBoards).toEqual([
      { id: 'run-1', backend: 'local' },
      { id: 'wf-2', backend: 'argo' }
    ]);
    monitor.dispose();
    make(undefined, false); // the TensorBoard plugin disabled: no button
    expect(() => button('Open TensorBoard')).toThrow('no button');
  });

  it('re-runs from the step chosen and follows the new run', async () => {
    make();
    await monitor.follow(client.add(record('run-1')));
    client.send(runFinished('run-1', 1, 'failed'));
    monitor.node.querySelector('select')!.value = 'train';
    client.resumeAnswer = details(record('run-2'));
    button('Re-run from').click();
    await settle();
    expect(client.resumed).toEqual([{ id: 'run-1', from: 'train' }]);
    expect(monitor.model.id).toBe('run-2');
    expect(button('Cancel').disabled).toBe(false);
  });
});

describe('RunMonitor: the log pane', () => {
  it("shows the selected step's log, then its live lines, with ANSI colours", async () => {
    make();
    await monitor.follow(client.add(record('run-1')));
    client.logTexts.set('run-1/load', 'reading data\n\u001b[31mwarning: 3 rows dropped\u001b[0m\n');
    expect(logTitle()).toBe('Select a step to see its log.');
    await monitor.selectStep('load');
    await settle();
    expect(logTitle()).toBe('Log of load');
    expect(logText()).toContain('reading data');
    const red = [...q('.jp-chard-Monitor-logBody').querySelectorAll('span')].find(s =>
      s.textContent?.includes('warning: 3 rows dropped')
    );
    expect(red?.className).toContain('ansi-red');
    client.send(log('run-1', 'load', 'epoch 1'), log('run-1', 'train', 'not this one'));
    await settle();
    expect(logText()).toContain('epoch 1');
    expect(logText()).not.toContain('not this one');
    expect(q('tr[data-step="load"]').classList).toContain('jp-mod-selected');
  });

  it("asks what a selected step showed for local and Argo runs, not for a KFP run's", async () => {
    make();
    await monitor.follow(client.add(record('run-1')));
    await monitor.selectStep('load');
    await monitor.follow(client.add(record('wf-2', { backend: 'argo', status: 'succeeded' })));
    await monitor.selectStep('train');
    await monitor.follow(client.add(record('kfp-3', { backend: 'kfp', status: 'succeeded' })));
    await monitor.selectStep('train');
    await settle();
    // (Another run shown keeps the step selected: load of wf-2 is asked for too.)
    expect(client.outputsAsked).toEqual(['run-1/load', 'wf-2/load', 'wf-2/train']);
  });

  it('keeps the last lines of a long log and shows all on demand', async () => {
    make(50);
    await monitor.follow(client.add(record('run-1')));
    const lines = Array.from({ length: 400 }, (_, i) => `line ${i + 1}`);
    client.logTexts.set('run-1/load', lines.join('\n') + '\n');
    await monitor.selectStep('load');
    await settle();
    const shown = () => logText().split('\n');
    expect(shown()).toContain('line 400');
    expect(shown()).not.toContain('line 1');
    const showAll = q<HTMLButtonElement>('.jp-chard-Monitor-showAll');
    expect(showAll.hidden).toBe(false);
    showAll.click();
    expect(shown()).toContain('line 1');
    expect(shown()).toContain('line 400');
    expect(showAll.hidden).toBe(true);
  });

  it('after a cancelled run is resumed, shows the same step of the new run', async () => {
    make();
    await monitor.follow(client.add(record('run-1')));
    client.logTexts.set('run-1/train', 'old run output\n');
    await monitor.selectStep('train');
    await settle();
    client.send(log('run-1', 'train', 'late line of the old run'));
    button('Cancel').click();
    client.send(finished('run-1', 'train', 1, 'cancelled'), runFinished('run-1', 1, 'cancelled'));
    client.logTexts.set('run-2/train', 'new run output\n');
    client.resumeAnswer = details(record('run-2'));
    button('Resume').click();
    await settle();
    expect(monitor.model.id).toBe('run-2');
    expect(logTitle()).toBe('Log of train');
    expect(logText()).toContain('new run output');
    expect(logText()).not.toContain('old run output');
    expect(logText()).not.toContain('late line of the old run');
    expect(q('tr[data-step="train"]').classList).toContain('jp-mod-selected');
  });

  it('says that no step is selected when the run shown has no step of that name', async () => {
    make();
    await monitor.follow(client.add(record('run-1')));
    client.logTexts.set('run-1/train', 'old run output\n');
    await monitor.selectStep('train');
    await settle();
    client.add(record('run-0', { status: 'failed', steps: [step('prepare')] }));
    await monitor.open('run-0');
    await settle();
    expect(logTitle()).toBe('Select a step to see its log.');
    expect(logText()).toBe('');
    expect(monitor.node.querySelector('tr.jp-mod-selected')).toBeNull();
  });
});

describe('RunMonitor: metrics of past runs', () => {
  const finishedRun = (id: string, minute: number, metrics: IStepRecord['metrics']) =>
    record(id, {
      status: 'succeeded',
      createdAt: new Date(T0 + minute * 60_000).toISOString(),
      steps: [
        step('load', { status: 'succeeded' }),
        step('train', { status: 'succeeded', metrics })
      ]
    });

  it('puts the runs side by side, oldest first, and draws a chart per numeric metric', async () => {
    make();
    // Added newest first: the monitor orders them by time.
    client.add(finishedRun('run-c', 30, { accuracy: 0.9, loss: 0.2, model: 'svm', rows: 4951 }));
    client.add(finishedRun('run-a', 10, { accuracy: 0.8, loss: 0.4, model: 'logreg' }));
    client.add(finishedRun('run-b', 20, { accuracy: 0.85, model: 'tree' }));
    await monitor.refreshHistory();
    await settle();
    const table = q('.jp-chard-Monitor-metricsTable');
    const cells = [...table.querySelectorAll('tr')].map(tr =>
      [...tr.children].map(c => c.textContent)
    );
    expect(cells).toEqual([
      ['#', 'Run', 'accuracy', 'loss', 'model', 'rows'],
      ['1', 'run-a', '0.8', '0.4', 'logreg', ''],
      ['2', 'run-b', '0.85', '', 'tree', ''],
      ['3', 'run-c', '0.9', '0.2', 'svm', '4951']
    ]);
    const charts = [...monitor.node.querySelectorAll<HTMLElement>('.jp-chard-MetricsChart')];
    // A chart per numeric metric; the model's name (a string) is only in the table.
    expect(charts.map(c => c.dataset.metric)).toEqual(['accuracy', 'loss', 'rows']);
    expect(charts[0].querySelector('figcaption')?.textContent).toBe('accuracy');
    expect(charts[1].querySelector('[role="img"]')?.getAttribute('aria-label')).toBe(
      'loss over 3 runs: 0.4, none, 0.2'
    );
    // Values are read in full (up to 6 significant digits).
    expect(charts[2].querySelector('[role="img"]')?.getAttribute('aria-label')).toBe(
      'rows over 3 runs: none, none, 4951'
    );
    expect(charts[0].querySelector('canvas')).not.toBeNull();
  });

  it("draws the line in the theme's colour, and again in the new one after a theme change", async () => {
    make();
    const theme = document.createElement('style');
    theme.textContent = '.jp-chard-MetricsCharts { --jp-brand-color1: rgb(1, 2, 3); }';
    document.head.append(theme);
    try {
      client.add(finishedRun('run-a', 10, { accuracy: 0.8 }));
      client.add(finishedRun('run-b', 20, { accuracy: 0.85 }));
      await monitor.refreshHistory();
      await settle();
      expect(strokes).toContain('rgb(1, 2, 3)');
      theme.textContent = '.jp-chard-MetricsCharts { --jp-brand-color1: rgb(200, 100, 50); }';
      strokes.length = 0;
      monitor.redrawCharts();
      await settle();
      expect(strokes).toContain('rgb(200, 100, 50)');
      expect(strokes).not.toContain('rgb(1, 2, 3)');
    } finally {
      theme.remove();
    }
  });

  it('shows no metrics section when no run has metrics', async () => {
    make();
    client.add(finishedRun('run-a', 10, {}));
    await monitor.refreshHistory();
    await settle();
    expect(monitor.node.querySelector('.jp-chard-Monitor-metricsTable')).toBeNull();
    expect(monitor.node.querySelector('.jp-chard-MetricsChart')).toBeNull();
  });
});
