import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { KubeConfig } from '@kubernetes/client-node';
import type { IKubeClient } from '../../../src/server/kube/client.js';
import { createKubeClient } from '../../../src/server/kube/client.js';
import { tensorBoardRoutes } from '../../../src/server/http/tensorboard.js';
import type { IRoute } from '../../../src/server/http/router.js';
import { HttpError } from '../../../src/server/http/router.js';
import {
  ClusterTensorBoardError,
  ClusterTensorBoards,
  servesTensorboards
} from '../../../src/server/tensorboard/cluster.js';
import { LocalTensorBoards } from '../../../src/server/tensorboard/local.js';
import type { IFakeCluster } from '../../support/kube/index.js';
import { startFakeCluster } from '../../support/kube/index.js';

const GROUP = 'tensorboard.kubeflow.org';

/** Plays Kubeflow's Tensorboard controller: a new Tensorboard becomes ready after `delayMs`. */
function tensorboardController(cluster: IFakeCluster, delayMs: number): () => void {
  return cluster.observe(change => {
    if (change.resource !== `${GROUP}/tensorboards` || change.type !== 'ADDED') {
      return;
    }
    const object = change.object as { metadata: { name: string; namespace: string } };
    setTimeout(() => {
      const stored = cluster.get(
        GROUP,
        'v1alpha1',
        'tensorboards',
        object.metadata.namespace,
        object.metadata.name
      );
      if (stored) {
        cluster.put({
          ...stored,
          status: {
            conditions: [{ deploymentState: 'Available', lastProbeTime: new Date().toISOString() }],
            readyReplicas: 1
          }
        });
      }
    }, delayMs);
  });
}

function clientOf(cluster: IFakeCluster): { client: IKubeClient; kc: KubeConfig } {
  const kc = new KubeConfig();
  kc.loadFromString(cluster.kubeconfig);
  return { kc, client: createKubeClient(kc, cluster.namespace, { retry: { attempts: 1 } }) };
}

describe('TensorBoard on a cluster (Kubeflow Tensorboard resource)', () => {
  let cluster: IFakeCluster;
  let client: IKubeClient;
  let kc: KubeConfig;
  let stopController: () => void;

  beforeAll(async () => {
    cluster = await startFakeCluster();
    ({ client, kc } = clientOf(cluster));
    stopController = tensorboardController(cluster, 300);
  });

  afterAll(async () => {
    stopController();
    await cluster.close();
  });

  const list = (): { metadata: { name: string }; spec: { logspath: string } }[] =>
    cluster.list(GROUP, 'v1alpha1', 'tensorboards', cluster.namespace) as never;

  it("creates a Tensorboard on the run's volume, shows Kubeflow's URL once ready, deletes it on close", async () => {
    const progress: string[] = [];
    const boards = new ClusterTensorBoards({
      client,
      pollMs: 50,
      onProgress: m => progress.push(m),
      served: () => servesTensorboards(kc)
    });
    const opened = boards.open('pvc://workspace-claim/home/jovyan/logs', '20260101-120000-aaaaaa');
    // Not ready yet: it exists, the URL is not given until the controller reports a replica.
    await new Promise(r => setTimeout(r, 100));
    expect(list()).toHaveLength(1);
    const board = await opened;
    expect(progress.join('\n')).toMatch(/waiting for Kubeflow/);
    const stored = list();
    expect(stored).toHaveLength(1);
    expect(stored[0].metadata.name).toBe(board.name);
    expect(stored[0].spec.logspath).toBe('pvc://workspace-claim/home/jovyan/logs');
    expect(board.url).toBe(`/tensorboard/${cluster.namespace}/${board.name}/`);
    await boards.close(board.name);
    expect(list()).toHaveLength(0);
    // Closing twice is fine (a second panel, or the user deleted it).
    await expect(boards.close(board.name)).resolves.toBeUndefined();
  });

  it('gives up with a clear message, and deletes the resource, when it never becomes ready', async () => {
    const slow = await startFakeCluster();
    try {
      const boards = new ClusterTensorBoards({
        client: clientOf(slow).client,
        pollMs: 50,
        readyTimeoutMs: 400
      });
      await expect(boards.open('pvc://claim/logs')).rejects.toMatchObject({
        code: 'tensorboard-timeout',
        message: expect.stringContaining('readyReplicas stayed 0')
      });
      expect(slow.list(GROUP, 'v1alpha1', 'tensorboards', slow.namespace)).toHaveLength(0);
    } finally {
      await slow.close();
    }
  });

  it('says the cluster has no Tensorboard controller, and offers the local way, when the CRD is missing', async () => {
    const bare = await startFakeCluster({ crds: { tensorboards: false } });
    try {
      const { client: c, kc: k } = clientOf(bare);
      expect(await servesTensorboards(k)).toBe(false);
      const boards = new ClusterTensorBoards({ client: c, served: () => servesTensorboards(k) });
      const opened = boards.open('pvc://claim/logs');
      await expect(opened).rejects.toBeInstanceOf(ClusterTensorBoardError);
      await expect(opened).rejects.toMatchObject({
        code: 'tensorboard-not-in-cluster',
        message: expect.stringMatching(
          /no Kubeflow Tensorboard controller.*on this machine instead/
        )
      });
    } finally {
      await bare.close();
    }
  });

  it("opens a cluster run's Tensorboard through the HTTP endpoint, on the volume its Workflow mounts", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-tbk-'));
    const local = new LocalTensorBoards({ python: 'python3', pathPrefix: '/chard/tensorboard' });
    try {
      const runId = '20260101-140000-cccccc';
      const runDir = path.join(root, '.chard', 'runs', runId);
      fs.mkdirSync(runDir, { recursive: true });
      fs.writeFileSync(path.join(root, 'train.ipynb'), '{}');
      fs.writeFileSync(
        path.join(runDir, 'run.json'),
        JSON.stringify({
          version: 1,
          id: runId,
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
          cluster: { namespace: cluster.namespace, workflow: 'train-abcde' }
        })
      );
      cluster.put({
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Workflow',
        metadata: { name: 'train-abcde', namespace: cluster.namespace },
        spec: {
          entrypoint: 'main',
          templates: [],
          volumes: [
            { name: 'ro', persistentVolumeClaim: { claimName: 'datasets', readOnly: true } },
            { name: 'workspace-0', persistentVolumeClaim: { claimName: 'train-abcde-ws' } }
          ]
        }
      });
      const routes = tensorBoardRoutes({
        rootDir: root,
        local,
        cluster: () =>
          Promise.resolve({ client, boards: new ClusterTensorBoards({ client, pollMs: 50 }) })
      });
      const route = (p: string): IRoute => routes.find(r => r.path === p) as IRoute;
      const answer = await route('/tensorboard/open').handle({
        body: { target: 'cluster', notebook: 'train.ipynb', runs: [runId], path: 'logs' },
        query: new URLSearchParams()
      });
      const session = answer.body as { id: string; url: string; logdirs: { path: string }[] };
      expect(session.logdirs[0].path).toBe('pvc://train-abcde-ws/logs');
      expect(session.url).toBe(`/tensorboard/${cluster.namespace}/${session.id}/`);
      expect(list().map(t => t.spec.logspath)).toEqual(['pvc://train-abcde-ws/logs']);
      await route('/tensorboard/close').handle({
        body: { id: session.id, target: 'cluster' },
        query: new URLSearchParams()
      });
      expect(list()).toHaveLength(0);
      // A path that leaves the volume is refused before anything is created.
      await expect(
        route('/tensorboard/open').handle({
          body: { target: 'cluster', notebook: 'train.ipynb', runs: [runId], path: '../etc' },
          query: new URLSearchParams()
        })
      ).rejects.toBeInstanceOf(HttpError);
      expect(list()).toHaveLength(0);
    } finally {
      await local.stopAll();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
