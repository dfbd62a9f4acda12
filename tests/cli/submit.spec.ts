/** `chard submit`, `chard runs --cluster`, `chard logs`, `chard cancel` against the test API server. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { jest } from '@jest/globals';
import {
  clusterCancelCommand,
  clusterLogsCommand,
  clusterRunsCommand
} from '../../src/cli/cluster.js';
import { submitCommand } from '../../src/cli/submit.js';
import type { IFakeCluster } from '../support/kube/index.js';
import { startCluster, tempDir, TRAINING, workflowCreates } from '../server/kube/helpers.js';

async function capture(
  fn: () => Promise<number>
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  const e = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err += String(chunk);
    return true;
  });
  try {
    const code = await fn();
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('chard submit on a cluster', () => {
  let cluster: IFakeCluster;
  let dir: string;
  let notebook: string;
  const saved = process.env.KUBECONFIG;

  beforeEach(async () => {
    cluster = await startCluster();
    process.env.KUBECONFIG = cluster.kubeconfigPath;
    dir = tempDir();
    notebook = path.join(dir, 'training.ipynb');
    fs.copyFileSync(TRAINING, notebook);
  });
  afterEach(async () => {
    process.env.KUBECONFIG = saved;
    await cluster.close();
  });

  it('snapshots a named PVC, follows the run to Succeeded and prints and keeps each step log', async () => {
    const r = await capture(() =>
      submitCommand([
        notebook,
        '--snapshot-pvc',
        'workspace:/home/jovyan',
        '--watch',
        '--param',
        'EPOCHS=5'
      ])
    );
    expect(r.err).not.toMatch(/Error:|at .*\.ts/);
    expect(r.code).toBe(0);
    const run = r.out.split('\n')[0];
    expect(run).toMatch(/^training-[0-9a-f]{10}-1$/);
    expect(r.out).toMatch(new RegExp(`run ${run} succeeded`));
    expect(r.err).toMatch(/snapshotting PVC "workspace"/);
    const logsDir = path.join(dir, '.chard', 'runs', run, 'logs');
    const logs = fs.readdirSync(logsDir);
    expect(logs).toHaveLength(5);
    for (const file of logs) {
      const text = fs.readFileSync(path.join(logsDir, file), 'utf-8');
      const first = text.split('\n')[0];
      expect(r.out).toContain(first);
    }
    const record = JSON.parse(
      fs.readFileSync(path.join(dir, '.chard', 'runs', run, 'run.json'), 'utf-8')
    );
    expect(record).toMatchObject({
      status: 'succeeded',
      backend: 'argo',
      parameters: { EPOCHS: 5 }
    });
    const wf = cluster.get('argoproj.io', 'v1alpha1', 'workflows', cluster.namespace, run)!;
    expect(JSON.stringify(wf)).toContain('"kind":"VolumeSnapshot"');

    // The stored logs are printed by `chard logs`, even when the pods are gone.
    for (const pod of cluster.list('', 'v1', 'pods', cluster.namespace)) {
      const meta = pod.metadata as { name: string };
      cluster.remove('', 'v1', 'pods', cluster.namespace, meta.name);
    }
    const logsOut = await capture(() =>
      clusterLogsCommand([run, 'train', '--dir', path.join(dir, '.chard')])
    );
    expect(logsOut.code).toBe(0);
    expect(logsOut.out).toBe(fs.readFileSync(path.join(logsDir, 'train.log'), 'utf-8'));

    const runs = await capture(() => clusterRunsCommand(['--cluster', '--json']));
    expect(runs.code).toBe(0);
    expect(
      runs.out
        .trim()
        .split('\n')
        .map(l => JSON.parse(l))
    ).toEqual([expect.objectContaining({ run, status: 'succeeded', pipeline: 'training' })]);

    // Submitting the same notebook again while nothing changed and the run is over: a new attempt.
    const again = await capture(() =>
      submitCommand([notebook, '--snapshot-pvc', 'workspace:/home/jovyan', '--param', 'EPOCHS=5'])
    );
    expect(again.code).toBe(0);
    expect(again.out.trim()).toBe(run.replace(/-1$/, '-2'));
    expect(workflowCreates(cluster)).toBe(2);
  });

  it('--json prints RunEvent lines only on stdout', async () => {
    const r = await capture(() => submitCommand([notebook, '--no-workspace', '--watch', '--json']));
    expect(r.code).toBe(0);
    const events = r.out
      .trim()
      .split('\n')
      .map(l => JSON.parse(l) as { event: string });
    expect(events.some(e => e.event === 'run-started')).toBe(true);
    expect(events.filter(e => e.event === 'step-finished')).toHaveLength(5);
    expect(events[events.length - 1]).toMatchObject({ event: 'run-finished', status: 'succeeded' });
  });

  it('cancels a run', async () => {
    const submitted = await capture(() => submitCommand([notebook, '--no-workspace']));
    const run = submitted.out.trim();
    const r = await capture(() => clusterCancelCommand([run]));
    expect(r.code).toBe(0);
    const wf = cluster.get('argoproj.io', 'v1alpha1', 'workflows', cluster.namespace, run)!;
    expect((wf.spec as { shutdown?: string }).shutdown).toBe('Terminate');
    const missing = await capture(() => clusterCancelCommand(['no-such-run']));
    expect(missing.code).toBe(1);
    expect(missing.err).toBe('chard: no run "no-such-run" in namespace "kubeflow-user"\n');
  });

  it('usage errors exit 2; cluster failures exit 1 with one line', async () => {
    expect((await capture(() => submitCommand([]))).code).toBe(2);
    expect((await capture(() => submitCommand([notebook, '--via', 'spark']))).code).toBe(2);
    expect((await capture(() => submitCommand([notebook, '--param', 'EPOCHS']))).code).toBe(2);
    const noCrd = await capture(() => submitCommand([notebook, '--snapshot-pvc', 'missing:/data']));
    expect(noCrd.code).toBe(1);
    expect(noCrd.err.trim().split('\n').pop()).toBe(
      'chard: the workspace PVC "missing" does not exist in namespace "kubeflow-user"'
    );
  });
});

describe('chard submit --via kfp', () => {
  it('uploads the compiled pipeline and creates a run in the experiment', async () => {
    const { startFakeKfp } = await import('../server/kfp/fakekfp.js');
    const kfp = await startFakeKfp();
    try {
      const dir = tempDir();
      const notebook = path.join(dir, 'training.ipynb');
      fs.copyFileSync(TRAINING, notebook);
      const r = await capture(() =>
        submitCommand([notebook, '--via', 'kfp', '--kfp-endpoint', kfp.url])
      );
      expect(r.err).not.toMatch(/ at /);
      expect(r.code).toBe(0);
      expect(kfp.uploads).toHaveLength(1);
      expect(kfp.uploads[0]).toMatch(/pipelineInfo:/);
      expect(kfp.runs).toHaveLength(1);
      expect(r.out.trim()).toBe(kfp.runs[0].display_name);
      const noEndpoint = await capture(() => submitCommand([notebook, '--via', 'kfp']));
      expect(noEndpoint.code).toBe(2);
      expect(noEndpoint.err).toMatch(/--kfp-endpoint/);
    } finally {
      await kfp.close();
    }
  });
});
