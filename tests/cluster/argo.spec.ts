/**
 * `chard submit` against a real control plane with Argo Workflows' own workflow-controller: the
 * controller validates and schedules what Chard wrote, kwok gives its pods a life (each ends as
 * the test decides), the test binds pods to kwok's node and plays the CSI snapshot controller.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { analyzeNotebook } from '../../src/core/analyze.js';
import { compileArgo } from '../../src/core/compile/argo.js';
import { parseNotebook } from '../../src/core/notebook.js';
import type { IKubeObject } from '../../src/server/kube/client.js';
import { createKubeClient } from '../../src/server/kube/client.js';
import { loadClusterConfig } from '../../src/server/kube/config.js';
import { createRunService } from '../../src/server/index.js';
import { followWorkflow } from '../../src/server/kube/monitor.js';
import { submitWorkflow } from '../../src/server/kube/submit.js';
import { FatalError, type Json } from '../support/cluster/admin.js';
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

/**
 * A notebook of `n` steps in a chain, each about 40 lines reading the list the step before made
 * (the size of bench/compile.ts's plans), in a folder of its own.
 */
function chainNotebook(n: number): string {
  const cell = (tag: string, source: string): Json => ({
    cell_type: 'code',
    metadata: { tags: [tag] },
    source,
    outputs: [],
    execution_count: null
  });
  const cells = [
    cell('imports', 'import math'),
    cell('pipeline-parameters', 'EPOCHS = 3\nLR = 0.01'),
    cell('step:stage_0', 'data_0 = [1.0, 2.0, 3.0]')
  ];
  for (let i = 1; i < n; i++) {
    const lines = Array.from(
      { length: 38 },
      (_, k) => `x_${k} = [v * ${k} * LR for v in data_${i - 1}]`
    );
    lines.push(
      `data_${i} = [math.fsum(t) / EPOCHS for t in zip(x_1, x_7, x_13, x_19, x_25, x_31)]`
    );
    cells.push(cell(`step:stage_${i}`, lines.join('\n')));
  }
  const notebook = {
    cells,
    metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
    nbformat: 4,
    nbformat_minor: 5
  };
  const file = path.join(
    fs.mkdtempSync(path.join(os.tmpdir(), 'chard-cluster-spec-')),
    'chain.ipynb'
  );
  fs.writeFileSync(file, JSON.stringify(notebook));
  return file;
}

/** `chard submit NOTEBOOK --no-workspace --watch --json --param EPOCHS=epochs`. */
function submitWatching(notebook: string, epochs: number): ReturnType<typeof chard> {
  return chard(
    'submit',
    notebook,
    '--no-workspace',
    '--watch',
    '--json',
    '--param',
    `EPOCHS=${epochs}`
  );
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
    const submitting = submitWatching(trainingNotebook(), 5);
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
    // The runtime, carried once by the Workflow's templateDefaults, reached the step's arguments.
    expect(main.args[0]).toBe('--runtime-b64');
    expect(main.args.length).toBeGreaterThanOrEqual(2);
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
  const r = await submitWatching(notebook, 6);
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

/**
 * What the step runtime prints, run here as an Argo step runs it (`--outputs-to-log`), on cells
 * that show an HTML table and a matplotlib figure.
 */
function runtimeLog(): { log: string; shown: Json } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-shown-'));
  const spec = {
    version: 1,
    pipeline: 'training',
    step: 'report',
    stepId: 'report',
    code: [
      {
        cell: 7,
        source:
          'import matplotlib.pyplot as plt\n' +
          'from IPython.display import HTML, display\nprint("report ready")\n' +
          'display(HTML("<table><tr><td>acc</td><td>0.93</td></tr></table>"))\n' +
          'plt.figure(figsize=(2, 1.5), dpi=40)\nplt.plot([3, 1, 2])\nplt.show()'
      }
    ],
    parameters: {},
    inputs: [],
    outputs: [],
    metrics: [],
    dataDir: path.join(dir, 'data'),
    workdir: dir
  };
  const run = spawnSync(
    '/usr/bin/python3',
    [
      path.resolve('lib/runtime/chard_runtime.py'),
      '--spec-json',
      JSON.stringify(spec),
      '--outputs-to-log'
    ],
    {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin', HOME: dir }
    }
  );
  if (run.status !== 0) {
    throw new Error(`the runtime failed: ${run.stderr}`);
  }
  const shown = JSON.parse(
    fs.readFileSync(path.join(dir, 'data', 'report', '_outputs.json'), 'utf8')
  ) as Json;
  fs.rmSync(dir, { recursive: true, force: true });
  return { log: run.stdout + run.stderr, shown };
}

it('what a step showed comes back in its log: the monitor gets its outputs, its log does not show the line', async () => {
  const { log, shown } = runtimeLog();
  expect(shown.outputs.map((o: Json) => Object.keys(o.data).sort())).toEqual([
    ['text/html', 'text/plain'],
    ['image/png', 'text/plain']
  ]);
  cluster.pods.outcome = pod => (taskOf(pod) === 'report' ? { succeed: log } : 'succeed');
  const notebook = trainingNotebook();
  const r = await submitWatching(notebook, 9);
  expect(r.code).toBe(0);
  const evs = events(r.out);
  const run = evs[evs.length - 1].run as string;
  const reportLog = evs.filter(e => e.event === 'log' && e.step === 'report').map(e => e.line);
  expect(reportLog).toContain('report ready');
  expect(reportLog.some((l: string) => l.includes('CHARD_OUTPUTS'))).toBe(false);

  // Through the run service, as the monitor asks (GET runs/{id}/steps/report/outputs).
  const service = createRunService();
  const got = await service.stepOutputs(run, 'report');
  expect(got).toEqual({ step: 'report', outputs: shown.outputs, truncated: null });
  expect(await service.stepOutputs(run, 'train')).toEqual({
    step: 'train',
    outputs: [],
    truncated: null
  });
  // The log kept next to the notebook (and `chard logs`) has no outputs line either.
  const logs = await chard('logs', run, 'report');
  expect(logs.out).toContain('report ready');
  expect(logs.out).not.toContain('CHARD_OUTPUTS');
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

it("a 500-step notebook: the API server stores its Workflow (under 1 MiB) and Argo's controller accepts the nested DAGs and the shared step template, and runs the chain in order", async () => {
  const first = new Set(['stage-0', 'stage-1', 'stage-2']);
  cluster.pods.outcome = pod => (first.has(taskOf(pod)) ? 'succeed' : 'hold');
  const r = await chard('submit', chainNotebook(500), '--no-workspace', '--param', 'EPOCHS=500');
  expect(r.err).not.toMatch(/ at |Error:|warning/);
  expect(r.code).toBe(0);
  const name = r.out.trim();
  const wf = await until(
    'Argo to run stage-3',
    async () => {
      const w = await workflow(cluster, name);
      if (w.status?.phase && w.status.phase !== 'Running') {
        throw new FatalError(`Argo ended the run: ${w.status.phase}: ${w.status.message}`);
      }
      return podNodes(w).some(n => n.displayName === 'stage-3' && n.phase === 'Running')
        ? w
        : undefined;
    },
    120000
  );
  expect(Buffer.byteLength(JSON.stringify(wf.spec))).toBeLessThanOrEqual(1024 * 1024);
  // Argo's validation passed (an invalid spec fails the run before any node) and it keeps going.
  expect(wf.status.phase).toBe('Running');
  expect(wf.status.message ?? '').toBe('');
  // 500 tasks in nested DAGs of at most 200 (Argo's cap), every step on one shared template.
  const dags = wf.spec.templates.filter((t: Json) => t.dag);
  expect(dags.map((t: Json) => [t.name, t.dag.tasks.length])).toEqual([
    ['pipeline', 3],
    ['pipeline-1', 200],
    ['pipeline-2', 200],
    ['pipeline-3', 100]
  ]);
  expect(wf.spec.templates).toHaveLength(5);
  // Argo entered the first group only, and ran its steps one after another.
  const nodes = Object.values(wf.status.nodes as Record<string, INode & { templateName: string }>);
  expect(
    nodes
      .filter(n => n.type === 'DAG')
      .map(n => `${n.displayName}:${n.phase}`)
      .sort()
  ).toEqual([`${name}:Running`, 'pipeline-1:Running']);
  expect(
    podNodes(wf)
      .map(n => `${n.displayName}:${n.phase}`)
      .sort()
  ).toEqual(['stage-0:Succeeded', 'stage-1:Succeeded', 'stage-2:Succeeded', 'stage-3:Running']);
  expect(new Set(nodes.filter(n => n.type === 'Pod').map(n => n.templateName))).toEqual(
    new Set(['chard-step'])
  );
  expect((await chard('cancel', name, '--cluster')).code).toBe(0);
});
