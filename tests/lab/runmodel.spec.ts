/** The run monitor's model: events -> step states, durations, failures; the client's event stream. */
import { ServerConnection } from '@jupyterlab/services';

import type { IRunDetails, IRunEventEnvelope } from '../../src/core/api.js';
import type { RunEvent } from '../../src/core/runs.js';
import { RunClient } from '../../src/lab/client.js';
import type { IEventSourceLike } from '../../src/lab/client.js';
import { formatDuration, RunMonitorModel } from '../../src/lab/runmodel.js';
import { StepStates } from '../../src/lab/stepstates.js';

const RUN = 'run-1';
const T0 = Date.parse('2026-12-05T01:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

function details(since = 0): IRunDetails {
  return {
    record: {
      version: 1,
      id: RUN,
      backend: 'local',
      pipeline: 'churn',
      notebook: 'churn.ipynb',
      status: 'pending',
      createdAt: at(0),
      startedAt: null,
      finishedAt: null,
      parameters: {},
      steps: ['load', 'train'].map(name => ({
        name,
        id: name,
        status: 'pending' as const,
        startedAt: null,
        finishedAt: null,
        exitCode: null,
        message: null,
        cell: null,
        line: null,
        metrics: {},
        outputs: []
      })),
      message: null
    },
    dir: '/nb/.chard/runs/run-1',
    notebook: '/nb/churn.ipynb',
    workspace: null,
    since
  };
}

const started = (step: string, s: number): RunEvent => ({
  event: 'step-started',
  run: RUN,
  time: at(s),
  step
});
const finished = (
  step: string,
  s: number,
  status: 'succeeded' | 'failed' | 'cancelled',
  cell: number | null = null,
  line: number | null = null
): RunEvent => ({
  event: 'step-finished',
  run: RUN,
  time: at(s),
  step,
  status,
  exitCode: status === 'succeeded' ? 0 : 1,
  message: status === 'failed' ? "NameError: name 'undefined_thing' is not defined" : null,
  cell,
  line
});
const runFinished = (s: number, status: 'succeeded' | 'failed' | 'cancelled'): RunEvent => ({
  event: 'run-finished',
  run: RUN,
  time: at(s),
  status,
  message: null
});

function envelopes(events: RunEvent[], from = 1): IRunEventEnvelope[] {
  return events.map((event, i) => ({ seq: from + i, event }));
}

describe('RunMonitorModel', () => {
  it('takes steps from pending to running to their end, and writes the states the DAG reads', () => {
    const states = new StepStates();
    const seen: string[][] = [];
    states.changed.connect((_, steps) => seen.push([...steps]));
    const model = new RunMonitorModel({ states });
    model.load(details());
    expect(states.get('load')).toBe('pending');
    model.apply({ seq: 1, event: started('load', 1) });
    expect(states.get('load')).toBe('running');
    expect(model.duration('load', T0 + 3500)).toBe(2500);
    model.apply({ seq: 2, event: finished('load', 4, 'succeeded') });
    expect(states.get('load')).toBe('succeeded');
    expect(model.duration('load', T0 + 100_000)).toBe(3000);
    expect(states.get('train')).toBe('pending');
    expect(model.duration('train')).toBeNull();
    expect(seen).toContainEqual(['load']);
    expect(model.finished).toBe(false);
    model.apply({ seq: 3, event: runFinished(5, 'succeeded') });
    expect(model.finished).toBe(true);
    expect(model.status).toBe('succeeded');
  });

  it('ignores events replayed after a reconnect (seq not after the last)', () => {
    const model = new RunMonitorModel();
    model.load(details());
    const events = envelopes([
      started('load', 1),
      finished('load', 2, 'succeeded'),
      started('train', 3)
    ]);
    events.forEach(e => model.apply(e));
    // The stream reconnects and the server sends from seq 1 again: nothing goes back.
    events.forEach(e => model.apply(e));
    model.apply({ seq: 2, event: started('load', 9) });
    expect(model.step('load')?.status).toBe('succeeded');
    expect(model.step('train')?.status).toBe('running');
    expect(model.lastSeq).toBe(3);
  });

  it('says where a failed step failed: the cell and the line', () => {
    const model = new RunMonitorModel();
    model.load(details());
    envelopes([
      started('load', 1),
      finished('load', 2, 'failed', 3, 2),
      runFinished(2, 'failed')
    ]).forEach(e => model.apply(e));
    expect(model.failures).toEqual([
      {
        step: 'load',
        message: "NameError: name 'undefined_thing' is not defined",
        cell: 3,
        line: 2
      }
    ]);
    expect(model.status).toBe('failed');
  });

  it('a resumed step forgets its old failure when it starts again', () => {
    const model = new RunMonitorModel();
    model.load(details());
    envelopes([started('load', 1), finished('load', 2, 'failed', 3, 2)]).forEach(e =>
      model.apply(e)
    );
    model.load(details(2));
    model.apply({ seq: 3, event: started('load', 10) });
    expect(model.failures).toEqual([]);
    expect(model.step('load')?.cell).toBeNull();
  });

  it('keeps the last lines of a long log, and metrics by step', () => {
    const model = new RunMonitorModel({ maxLogLines: 3 });
    model.load(details());
    const appended: number[] = [];
    model.logAppended.connect((_, { lines }) => appended.push(lines.length));
    model.appendLog('load', 'a\nb\n');
    model.apply({
      seq: 1,
      event: { event: 'log', run: RUN, time: at(1), step: 'load', stream: 'stdout', line: 'c' }
    });
    model.appendLog('load', 'd');
    expect(model.log('load')).toEqual(['b', 'c', 'd']);
    expect(appended).toEqual([2, 1, 1]);
    model.apply({
      seq: 2,
      event: { event: 'metric', run: RUN, time: at(2), step: 'train', name: 'auc', value: 0.91 }
    });
    expect(model.step('train')?.metrics).toEqual({ auc: 0.91 });
  });
});

describe('formatDuration', () => {
  it('reads like a person would write it', () => {
    expect([850, 12_345, 245_000, 3_720_000].map(formatDuration)).toEqual([
      '850 ms',
      '12.3 s',
      '4 min 05 s',
      '1 h 02 min'
    ]);
  });
});

/** A fake EventSource server: each connection gets the events after its `after`. */
class FakeSource implements IEventSourceLike {
  readyState = 1;
  onerror: ((event: unknown) => void) | null = null;
  closed = false;
  constructor(readonly url: string) {}
  addEventListener(type: string, listener: (event: { data: string }) => void): void {
    this.listeners.set(type, listener);
  }
  send(type: string, data: unknown): void {
    this.listeners.get(type)?.({ data: JSON.stringify(data) });
  }
  close(): void {
    this.closed = true;
    this.readyState = 2;
  }
  readonly listeners = new Map<string, (event: { data: string }) => void>();
}

describe('RunClient.events', () => {
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://lab.test/user/me/',
    token: ''
  });

  it('reconnects after a drop from the last event received, and delivers each event once', async () => {
    const sources: FakeSource[] = [];
    const client = new RunClient({
      settings,
      eventSource: url => {
        const source = new FakeSource(url);
        sources.push(source);
        return source;
      }
    });
    const got: number[] = [];
    const model = new RunMonitorModel();
    model.load(details());
    client.events(
      RUN,
      0,
      e => {
        got.push(e.seq);
        model.apply(e);
      },
      { retryMs: 1 }
    );
    const all = envelopes([
      started('load', 1),
      finished('load', 2, 'succeeded'),
      started('train', 3),
      finished('train', 4, 'succeeded'),
      runFinished(4, 'succeeded')
    ]);
    expect(sources[0].url).toBe('http://lab.test/user/me/chard/api/runs/run-1/events?after=0');
    sources[0].send('run-event', all[0]);
    sources[0].send('run-event', all[1]);
    sources[0].onerror?.({});
    expect(sources[0].closed).toBe(true);
    await new Promise(resolve => setTimeout(resolve, 20));
    expect(sources[1].url).toBe('http://lab.test/user/me/chard/api/runs/run-1/events?after=2');
    // A server that replays from the start anyway: the repeats are dropped.
    all.forEach(e => sources[1].send('run-event', e));
    expect(got).toEqual([1, 2, 3, 4, 5]);
    expect(model.step('train')?.status).toBe('succeeded');
    // After run-finished the stream is closed and does not reconnect.
    expect(sources[1].closed).toBe(true);
    sources[1].onerror?.({});
    await new Promise(resolve => setTimeout(resolve, 20));
    expect(sources).toHaveLength(2);
  });

  it('drops messages that are not run events', () => {
    const sources: FakeSource[] = [];
    const client = new RunClient({
      settings,
      eventSource: url => (sources.push(new FakeSource(url)), sources[sources.length - 1])
    });
    const got: number[] = [];
    const stream = client.events(RUN, 0, e => got.push(e.seq));
    sources[0].send('run-event', { seq: 1, event: { event: 'step-started', run: RUN } });
    sources[0].listeners.get('run-event')?.({ data: 'not json' });
    sources[0].send('run-event', { seq: 2, event: started('load', 1) });
    stream.close();
    sources[0].send('run-event', { seq: 3, event: started('train', 1) });
    expect(got).toEqual([2]);
  });
});
