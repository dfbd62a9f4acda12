import { schedule } from '../../../src/server/local/scheduler.js';
import type { NodeOutcome } from '../../../src/server/local/scheduler.js';

const NODES = [
  { name: 'load', parents: [] },
  { name: 'a', parents: ['load'] },
  { name: 'b', parents: ['load'] },
  { name: 'c', parents: ['load'] },
  { name: 'report', parents: ['a', 'b', 'c'] },
  { name: 'side', parents: ['b'] }
];

function runner(outcomes: Record<string, NodeOutcome> = {}, ms = 20) {
  let running = 0;
  const log: string[] = [];
  const state = { peak: 0, log };
  const run = async (name: string): Promise<NodeOutcome> => {
    running += 1;
    state.peak = Math.max(state.peak, running);
    log.push(`start ${name}`);
    await new Promise(r => setTimeout(r, ms));
    running -= 1;
    log.push(`end ${name}`);
    return outcomes[name] ?? 'succeeded';
  };
  return { run, state };
}

describe('schedule', () => {
  it('starts a node only after its parents, up to the parallel limit', async () => {
    const { run, state } = runner();
    const status = await schedule({ nodes: NODES, parallel: 2, run });
    expect([...status.values()].every(s => s === 'succeeded')).toBe(true);
    expect(state.peak).toBe(2);
    expect(state.log.indexOf('start report')).toBeGreaterThan(state.log.indexOf('end c'));
    expect(state.log.indexOf('start a')).toBeGreaterThan(state.log.indexOf('end load'));
  });

  it('skips the descendants of a failed node and finishes the independent ones', async () => {
    const { run } = runner({ b: 'failed' });
    const skipped: [string, string][] = [];
    const status = await schedule({
      nodes: NODES,
      parallel: 3,
      run,
      onSkipped: (n, c) => skipped.push([n, c])
    });
    expect(Object.fromEntries(status)).toEqual({
      load: 'succeeded',
      a: 'succeeded',
      b: 'failed',
      c: 'succeeded',
      report: 'skipped',
      side: 'skipped'
    });
    expect(skipped.sort()).toEqual([
      ['report', 'b'],
      ['side', 'b']
    ]);
  });

  it('does not run nodes given as done, and counts them as succeeded parents', async () => {
    const { run, state } = runner();
    await schedule({ nodes: NODES, parallel: 3, run, done: new Set(['load', 'a', 'c']) });
    expect(state.log.filter(l => l.startsWith('start')).sort()).toEqual([
      'start b',
      'start report',
      'start side'
    ]);
  });

  it('after an abort starts nothing new and marks what never started cancelled', async () => {
    const controller = new AbortController();
    const { run, state } = runner({}, 50);
    const cancelled: string[] = [];
    const done = schedule({
      nodes: NODES,
      parallel: 1,
      run: async name => {
        const outcome = await run(name);
        if (name === 'load') {
          controller.abort();
        }
        return outcome;
      },
      signal: controller.signal,
      onCancelled: n => cancelled.push(n)
    });
    const status = await done;
    expect(state.log).toEqual(['start load', 'end load']);
    expect(status.get('load')).toBe('succeeded');
    expect(cancelled.sort()).toEqual(['a', 'b', 'c', 'report', 'side']);
  });
});
