/** `chard submit`, `chard runs --cluster`, `chard logs`, `chard cancel` against the test API server. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { jest } from '@jest/globals';
import {
  clusterCancelCommand,
  clusterLogsCommand,
  clusterRunsCommand
} from '../../src/cli/cluster.js';
import { main } from '../../src/cli/main.js';
import { submitCommand } from '../../src/cli/submit.js';
import type { IFakeCluster } from '../support/kube/index.js';
import { startCluster, tempDir, TRAINING, workflowCreates } from '../server/kube/helpers.js';
import { argoPayloads } from '../core/compile/support.js';

type Obj = Record<string, unknown>;

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

  it('chard submit snapshots a named PVC, creates a Workflow whose steps mount the restored PVC, follows it to Succeeded and prints each step log', async () => {
    const r = await capture(() =>
      main([
        'submit',
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
    expect(r.out).toMatch(new RegExp(`run ${run} succeeded\n$`));
    expect(r.err).toMatch(/snapshotting PVC "workspace"/);

    // The named PVC was snapshotted; the snapshot is ready and owned by the run.
    const snaps = cluster.list('snapshot.storage.k8s.io', 'v1', 'volumesnapshots');
    expect(snaps).toHaveLength(1);
    const snap = snaps[0] as { metadata: Obj; spec: Obj; status: Obj };
    expect(snap.spec.source).toEqual({ persistentVolumeClaimName: 'workspace' });
    expect(snap.status.readyToUse).toBe(true);
    expect(snap.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Workflow', name: run })
    ]);
    // The Workflow (accepted by the server's Argo schema) restores it into a claim every step
    // mounts at the notebook's path, and Argo bound that claim to each step's pod.
    const wf = cluster.get('argoproj.io', 'v1alpha1', 'workflows', cluster.namespace, run)!;
    const spec = wf.spec as {
      volumeClaimTemplates: { metadata: { name: string }; spec: Obj }[];
      templates: { name: string; container?: { volumeMounts?: Obj[] } }[];
    };
    const restored = spec.volumeClaimTemplates.find(
      c => (c.spec.dataSource as Obj | undefined)?.name === (snap.metadata.name as string)
    );
    expect(restored?.spec.dataSource).toMatchObject({ kind: 'VolumeSnapshot' });
    expect(restored?.spec.resources).toEqual({ requests: { storage: '5Gi' } });
    // Steps share container templates; every one mounts the restored claim.
    const steps = spec.templates.filter(t => t.container);
    expect(steps.length).toBeGreaterThan(0);
    for (const t of steps) {
      expect(t.container?.volumeMounts).toContainEqual({
        name: restored?.metadata.name,
        mountPath: '/home/jovyan'
      });
    }
    const pods = cluster.list('', 'v1', 'pods', cluster.namespace);
    expect(pods).toHaveLength(5);
    for (const pod of pods) {
      expect((pod.spec as { volumes: Obj[] }).volumes).toContainEqual({
        name: restored?.metadata.name,
        persistentVolumeClaim: { claimName: `${run}-${restored?.metadata.name}` }
      });
    }
    expect((wf.status as Obj).phase).toBe('Succeeded');

    // Every line of every step's log was printed, and kept next to the notebook.
    const logsDir = path.join(dir, '.chard', 'runs', run, 'logs');
    const logs = fs.readdirSync(logsDir);
    expect(logs).toHaveLength(5);
    for (const pod of pods) {
      const meta = pod.metadata as { name: string; annotations: Record<string, string> };
      const step = meta.annotations['workflows.argoproj.io/node-name'].split('.').pop() ?? '';
      const text = cluster.podLogs.get(meta.name, 'main') ?? '';
      expect(text).not.toBe('');
      expect(fs.readFileSync(path.join(logsDir, `${step}.log`), 'utf-8')).toBe(text);
      for (const line of text.trimEnd().split('\n')) {
        expect(r.out).toContain(`] ${line}\n`);
      }
    }
    const record = JSON.parse(
      fs.readFileSync(path.join(dir, '.chard', 'runs', run, 'run.json'), 'utf-8')
    );
    expect(record).toMatchObject({
      status: 'succeeded',
      backend: 'argo',
      parameters: { EPOCHS: 5 }
    });

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

  it('--value-digest sha256 makes every step of the submitted Workflow verify values by sha256', async () => {
    const r = await capture(() =>
      submitCommand([notebook, '--no-workspace', '--value-digest', 'sha256'])
    );
    expect(r.code).toBe(0);
    const wf = cluster.get('argoproj.io', 'v1alpha1', 'workflows', cluster.namespace, r.out.trim());
    const digests = [...argoPayloads(wf).values()].map(p => p.spec.valueDigest);
    expect(digests).toHaveLength(5);
    expect(new Set(digests)).toEqual(new Set(['sha256']));
  });

  it('usage errors exit 2; cluster failures exit 1 with one line', async () => {
    expect((await capture(() => main(['submit', notebook, '--value-digest', 'md5']))).code).toBe(2);
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

describe('chard submit --via kfp, chard cancel and chard logs of the run', () => {
  it('terminates the KFP run through the endpoint it was submitted to; logs point to the KFP UI', async () => {
    const { startFakeKfp } = await import('../server/kfp/fakekfp.js');
    const kfp = await startFakeKfp({ pollsToFinish: 1000 });
    try {
      const dir = tempDir();
      const notebook = path.join(dir, 'training.ipynb');
      fs.copyFileSync(TRAINING, notebook);
      const submitted = await capture(() =>
        submitCommand([notebook, '--via', 'kfp', '--kfp-endpoint', kfp.url])
      );
      expect(submitted.code).toBe(0);
      const run = submitted.out.trim();
      const runId = String(kfp.runs[0].run_id);
      const records = path.join(dir, '.chard');

      const cancelled = await capture(() => clusterCancelCommand([run, '--dir', records]));
      expect(cancelled.err).toBe('');
      expect(cancelled).toMatchObject({ code: 0, out: `cancel requested for run ${run}\n` });
      expect(kfp.requests).toContainEqual(
        expect.objectContaining({
          method: 'POST',
          path: `/apis/v2beta1/runs/${runId}:terminate`,
          status: 200
        })
      );
      expect(kfp.runs[0].state).toBe('CANCELED');

      const logs = await capture(() => clusterLogsCommand([run, '--dir', records]));
      expect(logs.code).toBe(1);
      expect(logs.out).toBe('');
      expect(logs.err).toBe(
        `chard: run ${run} ran on Kubeflow Pipelines, whose API serves no step logs: open it in ` +
          `the Kubeflow Pipelines UI (Runs > "${run}", or #/runs/details/${runId} on the Pipelines UI)\n`
      );

      // Without the endpoint in the record, the run cannot be reached: a usage error.
      const file = path.join(records, 'runs', run, 'run.json');
      const record = JSON.parse(fs.readFileSync(file, 'utf-8')) as { cluster: Obj };
      expect(record.cluster.kfpEndpoint).toBe(kfp.url);
      delete record.cluster.kfpEndpoint;
      fs.writeFileSync(file, JSON.stringify(record));
      const saved = process.env.CHARD_KFP_ENDPOINT;
      delete process.env.CHARD_KFP_ENDPOINT;
      try {
        const noEndpoint = await capture(() => clusterCancelCommand([run, '--dir', records]));
        expect(noEndpoint.code).toBe(2);
        expect(noEndpoint.err).toMatch(
          /^chard: Kubeflow Pipelines needs an endpoint: pass --kfp-endpoint/
        );
      } finally {
        if (saved !== undefined) {
          process.env.CHARD_KFP_ENDPOINT = saved;
        }
      }
    } finally {
      await kfp.close();
    }
  });

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
