/** Shared set-up for the cluster tests: a fake cluster with a workspace PVC, a client, a plan. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { analyzeNotebook } from '../../../src/core/analyze.js';
import { compileArgo } from '../../../src/core/compile/argo.js';
import { parseNotebook } from '../../../src/core/notebook.js';
import type { IPlan } from '../../../src/core/plan.js';
import type { IKubeClient, IKubeObject } from '../../../src/server/kube/client.js';
import type { Submit } from '../../../src/server/kube/submit.js';
import { createKubeClient } from '../../../src/server/kube/client.js';
import { loadClusterConfig } from '../../../src/server/kube/config.js';
import type { IFakeCluster, IFakeClusterOptions } from '../../support/kube/index.js';
import { startFakeCluster } from '../../support/kube/index.js';

export const TRAINING = path.resolve('tests/fixtures/notebooks/training.ipynb');

export function trainingPlan(): IPlan {
  const nb = parseNotebook(fs.readFileSync(TRAINING, 'utf-8'), 'training.ipynb');
  return analyzeNotebook(nb, { fileName: 'training.ipynb' });
}

export const compile = (plan: IPlan): IKubeObject => compileArgo(plan).documents[0] as IKubeObject;

/** Submit options for the training notebook, its `workspace` PVC snapshotted, polling fast. */
export function trainingSubmit(
  client: IKubeClient,
  overrides: Partial<Submit.IOptions> = {}
): Submit.IOptions {
  return {
    client,
    plan: trainingPlan(),
    notebook: TRAINING,
    compile,
    workspace: [{ pvc: 'workspace', mountPath: '/home/jovyan' }],
    mode: 'snapshot',
    snapshotTimeoutMs: 10000,
    snapshotPollMs: 20,
    ...overrides
  };
}

/** Fast retries so fault tests finish quickly. */
export const FAST_RETRY = { baseDelayMs: 5, maxDelayMs: 100, timeoutMs: 5000, attempts: 10 };

export async function startCluster(options: IFakeClusterOptions = {}): Promise<IFakeCluster> {
  const cluster = await startFakeCluster({
    controller: { argo: true, snapshots: true, stepDelayMs: 30, snapshotReadyDelayMs: 30 },
    ...options
  });
  cluster.put({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'workspace', namespace: cluster.namespace },
    spec: {
      accessModes: ['ReadWriteOnce'],
      storageClassName: 'csi-hostpath-sc',
      resources: { requests: { storage: '5Gi' } },
      volumeName: 'pv-workspace'
    },
    status: { phase: 'Bound', accessModes: ['ReadWriteOnce'], capacity: { storage: '5Gi' } }
  });
  return cluster;
}

export function clientFor(cluster: IFakeCluster, retry = FAST_RETRY): IKubeClient {
  const config = loadClusterConfig({ kubeconfig: cluster.kubeconfigPath, env: {} });
  return createKubeClient(config.kubeConfig, config.namespace, { retry });
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'chard-kube-test-'));
}

/** Workflow creations the server actually performed. */
export function workflowCreates(cluster: IFakeCluster): number {
  return cluster.requests.filter(
    r => r.method === 'POST' && r.path.endsWith('/workflows') && r.status === 201
  ).length;
}
