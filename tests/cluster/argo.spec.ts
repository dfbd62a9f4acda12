/**
 * `chard submit` against a real control plane with Argo Workflows' own workflow-controller: the
 * controller validates and schedules what Chard wrote, kwok gives its pods a life (each ends as
 * the test decides), the test binds pods to kwok's node and plays the CSI snapshot controller.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { analyzeNotebook } from '../../src/core/analyze.js';
import { compileArgo } from '../../src/core/compile/argo.js';
import { parseNotebook } from '../../src/core/notebook.js';
import type { IKubeObject } from '../../src/server/kube/client.js';
import { createKubeClient } from '../../src/server/kube/client.js';
import { loadClusterConfig } from '../../src/server/kube/config.js';
import { followWorkflow } from '../../src/server/kube/monitor.js';
import { submitWorkflow } from '../../src/server/kube/submit.js';
import type { Json } from '../support/cluster/admin.js';
import type { ICluster } from '../support/cluster/index.js';
import { startCluster, STEP_LOG_LINE, until } from '../support/cluster/index.js';
import { taskOf } from '../support/cluster/pods.js';
import {
  chard,
  snapshotClass,
  TRAINING,
  trainingNotebook,
  workflow,
  workspacePvc
} from './support.js';

const NS = 'kubeflow-user';
let cluster: ICluster;
const saved = process.env.KUBECONFIG;

beforeAll(async () => {
  cluster = await startCluster({ namespace: NS, argo: true });
  process.env.KUBECONFIG = cluster.kubeconfigPath;
  await workspacePvc(cluster);
  await snapshotClass(cluster);
}, 1200000);

afterAll(async () => {
  process.env.KUBECONFIG = saved;
  await cluster?.close();
});

afterEach(() => {
  expect(cluster.pods.errors).toEqual([]);
});

interface INode {
  displayName: string;
  type: string;
  phase: string;
  message?: string;
}

function podNodes(wf: Json): INode[] {
  return Object.values((wf.status?.nodes ?? {}) as Record<string, INode>).filter(
    n => n.type === 'Pod'
  );
}

function events(out: string): Json[] {
  return out
    .trim()
    .split('\n')
    .filter(l => l.startsWith('{'))
    .map(l => JSON.parse(l));
}

/** What Argo and the pods look like now (for failure messages). */
async function state(name: string): Promise<string> {
  const wf = await workflow(cluster, name).catch(() => null);
  const pods = (await cluster.pods.list()).filter(
    p => p.metadata.labels?.['workflows.argoproj.io/workflow'] === name
  );
  return JSON.stringify({
    phase: wf?.status?.phase,
    message: wf?.status?.message,
    suspend: wf?.spec?.suspend,
    nodes: podNodes(wf ?? {}).map(n => `${n.displayName}:${n.phase}:${n.message ?? ''}`),
    pods: pods.map(
      p =>
        `${taskOf(p)}:${p.status?.phase}:${p.spec.nodeName ?? '-'}:${p.metadata.labels?.['chard.test/outcome'] ?? '-'}`
    )
  });
}

/** `promise`, or a failure that says where the run stood after `ms`. */
async function within<T>(promise: Promise<T>, name: string, ms = 60000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void state(name).then(
        text => reject(new Error(`not finished after ${ms} ms: ${text}`)),
        reject
      );
    }, ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The only Workflow whose parameter EPOCHS is `epochs` (each test submits its own). */
async function runWith(epochs: string): Promise<Json> {
  return until(`the Workflow with EPOCHS=${epochs}`, async () => {
    const list = await cluster.admin.get(`/apis/argoproj.io/v1alpha1/namespaces/${NS}/workflows`);
    return (list.items as Json[]).find(w =>
      (w.spec.arguments?.parameters ?? []).some(
        (p: Json) => p.name === 'EPOCHS' && p.value === epochs
      )
    );
  });
}

it(
  'submit --watch: Argo runs the DAG in dependency order, inspect and train at once, ' +
    'with the parameters in the step pods, and chard follows it to the end',
  async () => {
    const released = new Set<string>();
    cluster.pods.outcome = pod => (released.has(taskOf(pod)) ? 'succeed' : 'hold');
    const submitting = chard(
      'submit',
      trainingNotebook(),
      '--no-workspace',
      '--watch',
      '--json',
      '--param',
      'EPOCHS=5'
    );
    const wf0 = await runWith('5');
    const name: string = wf0.metadata.name;

    // Each wave: the steps Argo's node statuses show Running while nothing is let finish.
    const waves: string[][] = [];
    for (;;) {
      const wave = await until(
        'the next wave of steps',
        async () => {
          const wf = await workflow(cluster, name);
          if (wf.status?.phase && wf.status.phase !== 'Running') {
            return [];
          }
          const running = podNodes(wf)
            .filter(n => n.phase === 'Running' && !released.has(n.displayName))
            .map(n => n.displayName)
            .sort();
          const held = (await cluster.pods.list())
            .filter(p => p.status?.phase === 'Running' && !released.has(taskOf(p)))
            .map(taskOf)
            .sort();
          // Settled: Argo shows Running exactly the pods that run, and has started nothing else.
          const pending = podNodes(wf).filter(n => n.phase === 'Pending');
          if (
            running.length > 0 &&
            pending.length === 0 &&
            JSON.stringify(running) === JSON.stringify(held)
          ) {
            return running;
          }
          throw new Error(`not settled: ${await state(name)}`);
        },
        120000
      );
      if (wave.length === 0) {
        break;
      }
      // Nothing else starts while these are held.
      await new Promise(resolve => setTimeout(resolve, 1500));
      const again = podNodes(await workflow(cluster, name)).filter(
        n => n.phase !== 'Succeeded' && !released.has(n.displayName)
      );
      expect(again.map(n => n.displayName).sort()).toEqual(wave);
      waves.push(wave);
      for (const task of wave) {
        released.add(task);
      }
    }
    expect(waves).toEqual([['make-data'], ['normalize-data'], ['inspect', 'train'], ['report']]);

    const r = await within(submitting, name);
    expect(r.err).not.toMatch(/ at |Error:/);
    expect(r.code).toBe(0);
    const evs = events(r.out);
    expect(evs[evs.length - 1]).toMatchObject({
      event: 'run-finished',
      run: name,
      status: 'succeeded'
    });
    expect(evs.filter(e => e.event === 'step-finished').map(e => [e.step, e.status])).toEqual(
      expect.arrayContaining([
        ['make_data', 'succeeded'],
        ['normalize_data', 'succeeded'],
        ['inspect', 'succeeded'],
        ['train', 'succeeded'],
        ['report', 'succeeded']
      ])
    );
    // The logs kwok served for each step (as a kubelet would) reached the user.
    const logs = evs.filter(e => e.event === 'log' && e.line === STEP_LOG_LINE).map(e => e.step);
    expect(new Set(logs)).toEqual(
      new Set(['make_data', 'normalize_data', 'inspect', 'train', 'report'])
    );

    const wf = await workflow(cluster, name);
    expect(wf.status.phase).toBe('Succeeded');
    // The parameter reached the step that uses it: Argo substituted it into the pod's command.
    const train = (await cluster.pods.list()).find(p => taskOf(p) === 'train');
    const main = train.spec.containers.find((c: Json) => c.name === 'main');
    expect(main.command).toEqual(expect.arrayContaining(['--param', 'EPOCHS=5']));
    expect(main.command.join(' ')).not.toContain('{{');
  }
);

it('a failing step: Argo fails the run, its dependants do not run, chard names the step and its cell', async () => {
  const trainCell = JSON.parse(fs.readFileSync(TRAINING, 'utf8')).cells.findIndex((c: Json) =>
    (c.metadata.tags ?? []).includes('step:train')
  );
  // What the step runtime writes last when a cell fails (here, line 3 of the train cell).
  const failure = {
    fail:
      'Traceback (most recent call last):\n  File "<cell 6>", line 3, in <module>\n' +
      'FloatingPointError: overflow encountered in add\n' +
      `CHARD_ERROR ${JSON.stringify({ cell: trainCell, line: 3, type: 'FloatingPointError', message: 'overflow encountered in add' })}`
  };
  cluster.pods.outcome = pod => (taskOf(pod) === 'train' ? failure : 'succeed');
  const notebook = trainingNotebook();
  const r = await chard(
    'submit',
    notebook,
    '--no-workspace',
    '--watch',
    '--json',
    '--param',
    'EPOCHS=6'
  );
  expect(r.code).toBe(1);
  const evs = events(r.out);
  const failed = evs.find(e => e.event === 'step-finished' && e.step === 'train');
  expect(failed).toMatchObject({
    status: 'failed',
    cell: trainCell,
    line: 3,
    message: 'FloatingPointError: overflow encountered in add'
  });
  const report = evs.find(e => e.event === 'step-finished' && e.step === 'report');
  expect(report?.status).not.toBe('succeeded');
  expect(evs[evs.length - 1]).toMatchObject({ event: 'run-finished', status: 'failed' });
  const wf = await runWith('6');
  expect(wf.status.phase).toBe('Failed');
  expect(podNodes(wf).map(n => n.displayName)).not.toContain('report');
  // The run record next to the notebook says the same.
  const record = JSON.parse(
    fs.readFileSync(
      path.join(path.dirname(notebook), '.chard', 'runs', wf.metadata.name, 'run.json'),
      'utf8'
    )
  );
  expect(record.steps.find((s: Json) => s.name === 'train')).toMatchObject({
    status: 'failed',
    cell: trainCell,
    line: 3
  });
});

it('chard cancel ends a running run as Argo does (Terminate), and chard reports it cancelled', async () => {
  cluster.pods.outcome = () => 'hold';
  const submitted = await chard(
    'submit',
    trainingNotebook(),
    '--no-workspace',
    '--param',
    'EPOCHS=7'
  );
  expect(submitted.code).toBe(0);
  const run = submitted.out.trim();
  await until('the first step to run', async () =>
    (await cluster.pods.list()).some(
      p =>
        p.status?.phase === 'Running' &&
        p.metadata.labels?.['workflows.argoproj.io/workflow'] === run
    )
      ? true
      : undefined
  );
  const cancelled = await chard('cancel', run, '--cluster');
  expect(cancelled.code).toBe(0);
  const wf = await until(
    'Argo to stop the run',
    async () => {
      const w = await workflow(cluster, run);
      return w.status?.phase === 'Failed' ? w : undefined;
    },
    120000
  );
  expect(wf.status.message).toMatch(/Stopped with strategy 'Terminate'/);
  expect(podNodes(wf).map(n => n.displayName)).toEqual(['make-data']);
  const runs = await chard('runs', '--cluster', '--json');
  const line = runs.out
    .trim()
    .split('\n')
    .map(l => JSON.parse(l))
    .find((l: Json) => l.run === run);
  expect(line).toMatchObject({ status: 'cancelled' });
});

it("a Workflow the CRD schema accepts but Argo's controller rejects is reported as failed with Argo's reason", async () => {
  cluster.pods.outcome = () => 'succeed';
  const plan = analyzeNotebook(parseNotebook(fs.readFileSync(TRAINING, 'utf8'), 'training.ipynb'), {
    fileName: 'training.ipynb'
  });
  // A compiler bug: the report task depends on a task that does not exist.
  const broken = (p: typeof plan): IKubeObject => {
    const wf = compileArgo(p).documents[0] as Json;
    const dag = wf.spec.templates.find((t: Json) => t.dag);
    dag.dag.tasks.find((t: Json) => t.name === 'report').dependencies.push('no-such-task');
    return wf;
  };
  const config = loadClusterConfig({ kubeconfig: cluster.kubeconfigPath, env: {} });
  const client = createKubeClient(config.kubeConfig, config.namespace);
  const submitted = await submitWorkflow({
    client,
    plan,
    notebook: TRAINING,
    compile: broken,
    workspace: [],
    mode: 'none'
  });
  // The API server took it (the CRD schema has no objection)...
  expect(submitted.workflow.metadata?.uid).toBeTruthy();
  // ...and Argo's controller refused to run it.
  const record = await followWorkflow(client, submitted.record, { logs: false });
  expect(record.status).toBe('failed');
  expect(record.message).toMatch(/invalid spec: .*no-such-task/);
  expect(podNodes(await workflow(cluster, submitted.record.id))).toEqual([]);
});

it('snapshots: the Workflow waits suspended until the snapshot is ready, then Argo restores it into a claim every step mounts', async () => {
  // The first step is held until the restored claim has been seen (Argo deletes it at the end).
  let seen = false;
  cluster.pods.outcome = () => (seen ? 'succeed' : 'hold');
  const submitting = chard(
    'submit',
    trainingNotebook(),
    '--snapshot-pvc',
    'workspace:/home/jovyan',
    '--watch',
    '--param',
    'EPOCHS=8'
  );
  const wf0 = await runWith('8');
  const name: string = wf0.metadata.name;
  // Argo has seen it (Running) but starts no step while it is suspended.
  await until('Argo to take the suspended Workflow', async () => {
    const w = await workflow(cluster, name);
    return w.status?.phase === 'Running' ? true : undefined;
  });
  await new Promise(resolve => setTimeout(resolve, 1500));
  expect(podNodes(await workflow(cluster, name))).toEqual([]);
  const snaps = await cluster.admin.get(
    `/apis/snapshot.storage.k8s.io/v1/namespaces/${NS}/volumesnapshots`
  );
  const snap = (snaps.items as Json[]).find(s => s.metadata.ownerReferences?.[0]?.name === name);
  expect(snap.spec.source).toEqual({ persistentVolumeClaimName: 'workspace' });
  expect(await cluster.readySnapshots()).toBeGreaterThan(0);
  // Argo created the restored claim from the volumeClaimTemplate, from the snapshot.
  const restored = await until('the restored claim', async () => {
    const pvcs = await cluster.admin.get(`/api/v1/namespaces/${NS}/persistentvolumeclaims`);
    return (pvcs.items as Json[]).find(p => p.spec.dataSource?.name === snap.metadata.name);
  });
  // The held first step's pod mounts it.
  const first = await until('the first step pod', async () => {
    const pods = (await cluster.pods.list()).filter(
      p => p.metadata.labels?.['workflows.argoproj.io/workflow'] === name
    );
    return pods.length > 0 ? pods : undefined;
  });
  for (const pod of first) {
    expect(pod.spec.volumes).toContainEqual(
      expect.objectContaining({ persistentVolumeClaim: { claimName: restored.metadata.name } })
    );
  }
  seen = true;
  expect(restored.spec.dataSource).toMatchObject({
    kind: 'VolumeSnapshot',
    apiGroup: 'snapshot.storage.k8s.io'
  });

  const r = await within(submitting, name);
  expect(r.code).toBe(0);
  expect(r.out).toMatch(new RegExp(`run ${name} succeeded\n$`));
  const wf = await workflow(cluster, name);
  expect(podNodes(wf)).toHaveLength(5);
});
