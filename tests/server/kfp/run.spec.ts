/** KFP v2beta1: upload (or new version), experiment, run, poll — against the fake KFP server. */
import type { RunEvent } from '../../../src/core/runs.js';
import { createKfpClient, KfpError } from '../../../src/server/kfp/client.js';
import { followKfpRun, submitKfpRun } from '../../../src/server/kfp/run.js';
import { newRunRecord } from '../../../src/server/common/records.js';
import type { IPlan } from '../../../src/core/plan.js';
import { planOf, step } from '../../core/compile/support.js';
import type { IFakeKfp } from './fakekfp.js';
import { startFakeKfp } from './fakekfp.js';

const SPEC =
  'pipelineInfo:\n  name: training\nroot:\n  dag:\n    tasks: {}\nschemaVersion: 2.1.0\nsdkVersion: chard\n';

/** The two-step plan whose tasks the fake KFP server reports (`make-data`, `train`). */
function plan(): IPlan {
  return planOf(
    [step('make-data', 'make-data', 'data = list(range(10))'), step('train', 'train', 'fit(data)')],
    [{ name: 'EPOCHS', type: 'int', value: 3, cell: 0, line: 1 }],
    { name: 'training', id: 'training' }
  );
}

describe('Kubeflow Pipelines submit', () => {
  let kfp: IFakeKfp;
  afterEach(async () => {
    await kfp?.close();
  });

  const options = {
    pipelineName: 'training',
    specYaml: SPEC,
    experiment: 'notebooks',
    runPrefix: 'training',
    parameters: { EPOCHS: 5 }
  };

  it('uploads the pipeline, creates the experiment and a run, and follows it to SUCCEEDED', async () => {
    kfp = await startFakeKfp({ token: 'kfp-token' });
    const client = createKfpClient({
      endpoint: kfp.url,
      token: 'kfp-token',
      retry: { baseDelayMs: 5 }
    });
    const result = await submitKfpRun(client, options);
    expect(kfp.uploads).toEqual([SPEC]);
    expect(kfp.pipelines).toEqual([expect.objectContaining({ display_name: 'training' })]);
    // The first version is named by its content, as every later one.
    expect(kfp.versions).toEqual([
      expect.objectContaining({ display_name: expect.stringMatching(/^training-[0-9a-f]{12}$/) })
    ]);
    expect(kfp.experiments).toEqual([expect.objectContaining({ display_name: 'notebooks' })]);
    expect(kfp.runs).toHaveLength(1);
    expect(kfp.runs[0]).toMatchObject({
      experiment_id: result.experimentId,
      pipeline_version_reference: {
        pipeline_id: result.pipelineId,
        pipeline_version_id: result.versionId
      },
      runtime_config: { parameters: { EPOCHS: 5 } }
    });
    const record = newRunRecord(
      plan(),
      result.runName,
      'training.ipynb',
      { kfpRunId: result.runId },
      'kfp'
    );
    const events: RunEvent[] = [];
    const final = await followKfpRun(client, record, { pollMs: 5, onEvent: e => events.push(e) });
    expect(final.status).toBe('succeeded');
    expect(final.steps.map(s => s.status)).toEqual(['succeeded', 'succeeded']);
    expect(events[events.length - 1]).toMatchObject({ event: 'run-finished', status: 'succeeded' });
    expect(kfp.requests.every(r => r.auth === 'Bearer kfp-token')).toBe(true);
  });

  it('uploads a new version when the pipeline exists, and attaches to an unfinished identical run', async () => {
    kfp = await startFakeKfp({ pollsToFinish: 100 });
    const client = createKfpClient({ endpoint: kfp.url, retry: { baseDelayMs: 5 } });
    const first = await submitKfpRun(client, options);
    const changed = await submitKfpRun(client, { ...options, specYaml: `${SPEC}# v2\n` });
    expect(kfp.pipelines).toHaveLength(1);
    expect(kfp.versions).toHaveLength(2);
    expect(changed.versionId).not.toBe(first.versionId);
    const again = await submitKfpRun(client, options);
    expect(again).toMatchObject({ runId: first.runId, attached: true });
    expect(kfp.runs).toHaveLength(2);
  });

  it('never uploads an identical spec twice: a finished run is submitted again, with other parameter values too', async () => {
    kfp = await startFakeKfp({ pollsToFinish: 1 });
    const client = createKfpClient({ endpoint: kfp.url, retry: { baseDelayMs: 5 } });
    const first = await submitKfpRun(client, options);
    expect((await client.getRun(first.runId)).state).toBe('SUCCEEDED');
    const again = await submitKfpRun(client, options);
    const otherParams = await submitKfpRun(client, { ...options, parameters: { EPOCHS: 9 } });
    expect(kfp.uploads).toEqual([SPEC]);
    expect(kfp.versions).toHaveLength(1);
    expect([again.versionId, otherParams.versionId]).toEqual([first.versionId, first.versionId]);
    // Each is a run of its own: the first one had finished.
    expect(again).toMatchObject({ attached: false, runName: first.runName.replace(/-1$/, '-2') });
    expect(new Set(kfp.runs.map(r => r.run_id)).size).toBe(3);
  });

  it('a create whose answer was lost is found, not repeated; 429/5xx are retried; 4xx are not', async () => {
    kfp = await startFakeKfp();
    const client = createKfpClient({ endpoint: kfp.url, retry: { baseDelayMs: 5 } });
    kfp.fail({ method: 'POST', pathIncludes: '/runs', status: 502, afterHandling: true });
    kfp.fail({ method: 'GET', pathIncludes: '/experiments', status: 429, times: 2 });
    const result = await submitKfpRun(client, options);
    expect(kfp.runs).toHaveLength(1);
    expect(result.runId).toBe(kfp.runs[0].run_id);
    kfp.fail({ method: 'GET', pathIncludes: '/runs/', status: 403, times: 5 });
    await expect(client.getRun(result.runId)).rejects.toThrow(/HTTP 403.*not allowed to get run/);
    expect(kfp.requests.filter(r => r.status === 403)).toHaveLength(1);
  });

  it('an endpoint that is not a URL is a one-line error', () => {
    expect(() => createKfpClient({ endpoint: 'ml-pipeline:8888' })).toThrow(KfpError);
  });
});
