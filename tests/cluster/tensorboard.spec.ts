/**
 * TensorBoard for a cluster run, against a real kube-apiserver with Kubeflow's Tensorboard CRD
 * (tests/fixtures/crds): Chard, as the identity of deploy/rbac.yaml, creates the `Tensorboard` on
 * the run's volume, gives Kubeflow's `/tensorboard/<namespace>/<name>/` URL only once it serves,
 * and deletes it on close. The test plays Kubeflow's Tensorboard controller
 * (tests/support/cluster/kubeflow.ts). The cluster starts without the CRD; it is installed after
 * the first test, as an administrator would.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tensorBoardRoutes } from '../../src/server/http/tensorboard.js';
import type { IRoute } from '../../src/server/http/router.js';
import { HttpError } from '../../src/server/http/router.js';
import type { IKubeClient } from '../../src/server/kube/client.js';
import { createKubeClient } from '../../src/server/kube/client.js';
import { loadClusterConfig } from '../../src/server/kube/config.js';
import { ClusterTensorBoards } from '../../src/server/tensorboard/cluster.js';
import { LocalTensorBoards } from '../../src/server/tensorboard/local.js';
import { TensorBoardService } from '../../src/server/tensorboard/service.js';
import type { Json } from '../support/cluster/admin.js';
import type { ICluster } from '../support/cluster/index.js';
import { startCluster, until } from '../support/cluster/index.js';
import { TensorboardController } from '../support/cluster/kubeflow.js';
import { scalars, venvPython } from '../server/tensorboard/support.js';
import { workflowsPath } from './support.js';

const NS = 'kubeflow-user';
const RUN = '20260101-140000-cccccc';
const CLAIM = 'train-abcde-ws';

let cluster: ICluster;
let client: IKubeClient;
let controller: TensorboardController;
let root: string;
let local: LocalTensorBoards;
let routes: IRoute[];
/** This Jupyter server's own pod, as HOSTNAME names it in a notebook pod. */
let podName: string | null = null;

const tensorboardsPath = (): string =>
  `/apis/tensorboard.kubeflow.org/v1alpha1/namespaces/${NS}/tensorboards`;

async function tensorboards(): Promise<Json[]> {
  return (await cluster.admin.get(tensorboardsPath())).items as Json[];
}

/** A notebook with one finished cluster run, whose Workflow mounts the claim its steps wrote to. */
async function clusterRun(): Promise<void> {
  const runDir = path.join(root, '.chard', 'runs', RUN);
  fs.mkdirSync(runDir, { recursive: true });
  fs.writeFileSync(path.join(root, 'train.ipynb'), '{}');
  fs.writeFileSync(
    path.join(runDir, 'run.json'),
    JSON.stringify({
      version: 1,
      id: RUN,
      backend: 'argo',
      pipeline: 'train',
      notebook: 'train.ipynb',
      status: 'succeeded',
      createdAt: '2026-01-01T14:00:00.000Z',
      startedAt: null,
      finishedAt: null,
      parameters: {},
      steps: [],
      message: null,
      cluster: { namespace: NS, workflow: 'train-abcde' }
    })
  );
  await cluster.admin.post(workflowsPath(cluster), {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Workflow',
    metadata: { name: 'train-abcde' },
    spec: {
      entrypoint: 'main',
      templates: [{ name: 'main', container: { image: 'python:3.12-slim' } }],
      volumes: [
        { name: 'ro', persistentVolumeClaim: { claimName: 'datasets', readOnly: true } },
        { name: 'workspace-0', persistentVolumeClaim: { claimName: CLAIM } }
      ]
    }
  });
}

/** What the panel sends: open the run's `logs` folder on the cluster. */
async function open(body: Json = { path: 'logs' }): Promise<Json> {
  const route = routes.find(r => r.path === '/tensorboard/open') as IRoute;
  const answer = await route.handle({
    body: { target: 'cluster', notebook: 'train.ipynb', runs: [RUN], ...body },
    query: new URLSearchParams()
  });
  return answer.body as Json;
}

async function close(id: string): Promise<unknown> {
  const route = routes.find(r => r.path === '/tensorboard/close') as IRoute;
  return (await route.handle({ body: { id, target: 'cluster' }, query: new URLSearchParams() }))
    .body;
}

beforeAll(async () => {
  cluster = await startCluster({ namespace: NS, crds: ['workflows'] });
  const config = loadClusterConfig({ kubeconfig: cluster.kubeconfigPath, env: {} });
  client = createKubeClient(config.kubeConfig, config.namespace);
  controller = new TensorboardController(cluster.admin, NS);
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-tb-cluster-'));
  local = new LocalTensorBoards({ python: venvPython(), pathPrefix: '/chard/tensorboard' });
  routes = tensorBoardRoutes({
    rootDir: root,
    service: new TensorBoardService({
      rootDir: root,
      local,
      cluster: () =>
        Promise.resolve({
          client,
          boards: new ClusterTensorBoards({ client, pollMs: 100 }),
          podName
        })
    })
  });
  await clusterRun();
}, 900000);

afterAll(async () => {
  controller?.stop();
  await local?.stopAll();
  await cluster?.close();
  if (root) {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

it("without Kubeflow's Tensorboard CRD, the panel is told the cluster has no Tensorboard controller and to open the logs locally", async () => {
  // The real server's answer for a resource it does not serve says nothing about what is missing.
  const raw = await cluster.admin.raw('GET', tensorboardsPath());
  expect(raw.status).toBe(404);
  expect(raw.text).toBe('404 page not found\n');

  const refused = open();
  await expect(refused).rejects.toBeInstanceOf(HttpError);
  await expect(refused).rejects.toMatchObject({
    status: 424,
    code: 'tensorboard-not-in-cluster',
    message: expect.stringMatching(
      /^this cluster has no Kubeflow Tensorboard controller .*open the run's logs with TensorBoard on this machine instead/
    )
  });
});

/** A notebook server's pod (as Kubeflow makes it) mounting `claim` at `mountPath`. */
async function notebookPod(name: string, claim: string, mountPath: string): Promise<void> {
  await cluster.admin.post(`/api/v1/namespaces/${NS}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { 'notebook-name': name.replace(/-0$/, '') } },
    spec: {
      containers: [
        {
          name: name.replace(/-0$/, ''),
          image: 'kubeflownotebookswg/jupyter-scipy:v1.9.0',
          volumeMounts: [{ name: 'workspace', mountPath }]
        }
      ],
      volumes: [{ name: 'workspace', persistentVolumeClaim: { claimName: claim } }]
    }
  });
}

describe("the run's logs opened on this machine instead", () => {
  async function openLocally(): Promise<Json> {
    const route = routes.find(r => r.path === '/tensorboard/open') as IRoute;
    const answer = await route.handle({
      body: { target: 'local', notebook: 'train.ipynb', runs: [RUN] },
      query: new URLSearchParams()
    });
    return answer.body as Json;
  }

  afterEach(() => {
    podName = null;
  });

  it('says which volume holds them and where to copy them when this server does not mount it', async () => {
    await notebookPod('other-0', 'other-workspace', root);
    podName = 'other-0';
    await expect(openLocally()).rejects.toMatchObject({
      status: 404,
      code: 'logs-unreachable',
      message:
        `run ${RUN} wrote its logs to the volume claim "${CLAIM}", which this Jupyter server ` +
        "does not mount, so TensorBoard on this machine cannot read them. Copy the run's event " +
        `files (its logs/, runs/ or tensorboard/ folders) into .chard/runs/${RUN}/workspace/ ` +
        `(for example with kubectl cp from a pod that mounts "${CLAIM}"), then open ` +
        'TensorBoard again.'
    });
  });

  it('copies the event files the run wrote from the volume this server mounts, and TensorBoard serves them', async () => {
    // The run worked on the notebook's own volume, which this server mounts where the notebook
    // is: its steps wrote real event files next to the notebook (tensorboardX). An older event
    // file there, from before the run, is not the run's.
    const writer = [
      'import sys',
      'from tensorboardX import SummaryWriter',
      'w = SummaryWriter(sys.argv[1])',
      'for step in range(5): w.add_scalar("loss", 1.0 / (step + 1), step)',
      'w.close()'
    ].join('\n');
    execFileSync(venvPython(), ['-c', writer, path.join(root, 'logs', 'train')]);
    execFileSync(venvPython(), ['-c', writer, path.join(root, 'logs', 'before')]);
    const before = path.join(root, 'logs', 'before');
    for (const file of fs.readdirSync(before)) {
      fs.utimesSync(path.join(before, file), new Date('2025-12-31'), new Date('2025-12-31'));
    }
    await notebookPod('train-0', CLAIM, root);
    podName = 'train-0';

    const session = await openLocally();
    const workspace = path.join(root, '.chard', 'runs', RUN, 'workspace');
    expect(session).toMatchObject({
      target: 'local',
      logdirs: [{ name: RUN, path: `.chard/runs/${RUN}/workspace/logs` }]
    });
    expect(fs.readdirSync(path.join(workspace, 'logs'))).toEqual(['train']);
    expect(fs.readdirSync(path.join(workspace, 'logs', 'train'))).toEqual(
      fs.readdirSync(path.join(root, 'logs', 'train'))
    );
    const port = local.target(session.id as string);
    const points = await scalars(
      `http://127.0.0.1:${String(port)}/chard/tensorboard/${session.id as string}/`,
      `${RUN}/train`,
      'loss'
    );
    expect(points.map(p => [p[1], p[2]])).toEqual(
      [0, 1, 2, 3, 4].map(step => [step, expect.closeTo(1 / (step + 1), 5)])
    );
    await local.release(session.id as string);
  }, 120000);

  it("uses the event files already in the run's folder when the volume is not mounted here", async () => {
    podName = 'other-0'; // mounts another claim (the copy of the test before stays)
    const session = await openLocally();
    expect(session).toMatchObject({
      target: 'local',
      logdirs: [{ name: RUN, path: `.chard/runs/${RUN}/workspace/logs` }]
    });
    await local.release(session.id as string);
  }, 120000);
});

describe("with Kubeflow's Tensorboard CRD", () => {
  beforeAll(async () => {
    await cluster.installCrds(['tensorboards']);
    controller.start();
  }, 120000);

  afterEach(() => {
    expect(controller.errors).toEqual([]);
  });

  it("creates a Tensorboard on the run's volume, gives Kubeflow's URL only once it serves, deletes it on close", async () => {
    let answered = false;
    const opening = open().then(session => {
      answered = true;
      return session;
    });
    // Kubeflow's controller has made its Deployment, which is not ready yet: the Tensorboard's
    // first condition already says `Available` (the Deployment's first condition type), with no
    // ready replica.
    const [tb] = await until('the Tensorboard to be reconciled', async () => {
      const list = await tensorboards();
      return list[0]?.status?.conditions?.length > 0 ? list : undefined;
    });
    expect(tb.status).toMatchObject({
      readyReplicas: 0,
      conditions: [{ deploymentState: 'Available' }]
    });
    expect(tb.spec).toEqual({ logspath: `pvc://${CLAIM}/logs` });
    expect(tb.metadata.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'chard',
      'chard.dev/run': RUN
    });
    // What Kubeflow makes of that logspath: the run's claim, its `logs` folder, read-only.
    const deployment = await controller.deployment(tb.metadata.name);
    const pod = deployment.spec.template.spec;
    expect(pod.volumes).toEqual([{ name: 'tbpd', persistentVolumeClaim: { claimName: CLAIM } }]);
    expect(pod.containers[0].volumeMounts).toEqual([
      { name: 'tbpd', readOnly: true, mountPath: '/tensorboard_logs/', subPath: 'logs' }
    ]);
    await new Promise(resolve => setTimeout(resolve, 500));
    expect(answered).toBe(false);

    controller.ready(tb.metadata.name);
    const session = await opening;
    expect(session).toEqual({
      id: tb.metadata.name,
      target: 'cluster',
      url: `/tensorboard/${NS}/${tb.metadata.name}/`,
      logdirs: [{ name: RUN, path: `pvc://${CLAIM}/logs` }],
      started: true
    });
    expect((await tensorboards())[0].status.readyReplicas).toBe(1);

    await close(session.id);
    expect(await tensorboards()).toEqual([]);
    // Closed twice (a second panel, or someone deleted it already): fine.
    await expect(close(session.id)).resolves.toBeTruthy();
  });

  it('refuses a log path outside the volume before anything is created', async () => {
    await expect(open({ path: '../etc' })).rejects.toMatchObject({
      status: 400,
      code: 'bad-request',
      message: 'the log path leaves the volume: ../etc'
    });
    expect(await tensorboards()).toEqual([]);
  });

  it('gives up with a clear message, and deletes the Tensorboard, when Kubeflow never makes it serve', async () => {
    const progress: string[] = [];
    const boards = new ClusterTensorBoards({
      client,
      pollMs: 100,
      readyTimeoutMs: 2000,
      onProgress: m => progress.push(m)
    });
    await expect(boards.open(`pvc://${CLAIM}/logs`, RUN)).rejects.toMatchObject({
      code: 'tensorboard-timeout',
      message: expect.stringMatching(/^Kubeflow did not start TensorBoard chard-tb-\w+ within 2 s/)
    });
    expect(progress).toEqual([expect.stringMatching(/^waiting for Kubeflow to start TensorBoard/)]);
    expect(await tensorboards()).toEqual([]);
  });
});
