/**
 * A step the cluster did not run because it reused an earlier result (Argo memoization, KFP
 * caching) is reported as `cached`: finished and successful, never started.
 */
import type { IRunRecord } from '../../../src/core/runs.js';
import { diffEvents } from '../../../src/core/runs.js';
import { newRunRecord, runStatusOf } from '../../../src/server/common/records.js';
import { applyKfpRun } from '../../../src/server/kfp/run.js';
import { applyWorkflow } from '../../../src/server/kube/monitor.js';
import { planOf, step } from '../../core/compile/support.js';

function record(backend: 'argo' | 'kfp'): IRunRecord {
  const plan = planOf([step('load', 'load', 'rows = 1'), step('train', 'train', 'print(rows)')]);
  return newRunRecord(plan, 'run-1', 'flow.ipynb', { workflow: 'run-1' }, backend);
}

describe('cached steps', () => {
  it('an Argo node served from the memoization cache is cached, the rest as they ran', () => {
    const before = record('argo');
    const wf = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Workflow',
      metadata: { name: 'run-1' },
      status: {
        phase: 'Succeeded',
        startedAt: '2026-01-01T00:00:00Z',
        finishedAt: '2026-01-01T00:01:00Z',
        nodes: {
          a: {
            id: 'a',
            name: 'run-1.load',
            displayName: 'load',
            type: 'Pod',
            phase: 'Succeeded',
            memoizationStatus: { hit: true, key: 'k', cacheName: 'c' }
          },
          b: { id: 'b', name: 'run-1.train', displayName: 'train', type: 'Pod', phase: 'Succeeded' }
        }
      }
    };
    const after = applyWorkflow(before, wf);
    expect(after.steps.map(s => [s.name, s.status])).toEqual([
      ['load', 'cached'],
      ['train', 'succeeded']
    ]);
    expect(after.status).toBe('succeeded');
    const events = diffEvents(before, after, 'now');
    expect(events.map(e => ('step' in e ? `${e.event}:${e.step}` : e.event))).toEqual([
      'step-finished:load',
      'step-started:train',
      'step-finished:train',
      'run-finished'
    ]);
  });

  it('a KFP task in state CACHED is cached; a run of cached steps succeeded', () => {
    const before = record('kfp');
    const after = applyKfpRun(before, {
      run_id: 'r',
      display_name: 'run-1',
      state: 'SUCCEEDED',
      run_details: {
        task_details: [
          { display_name: 'load', state: 'CACHED' },
          { display_name: 'train', state: 'SUCCEEDED' }
        ]
      }
    });
    expect(after.steps.map(s => s.status)).toEqual(['cached', 'succeeded']);
    expect(after.steps[0].message).toBeNull();
    expect(runStatusOf(after.steps)).toBe('succeeded');
  });
});
