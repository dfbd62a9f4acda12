/** deploy/rbac.yaml grants every API call Chard makes, and nothing cluster-wide. */
import * as fs from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { IKubeOperation } from '../../../src/server/kube/errors.js';
import { createKubeClient } from '../../../src/server/kube/client.js';
import { loadClusterConfig } from '../../../src/server/kube/config.js';
import {
  cancelWorkflow,
  fetchNodeLog,
  followWorkflow,
  workflowNodes,
  workflowPods
} from '../../../src/server/kube/monitor.js';
import { submitWorkflow } from '../../../src/server/kube/submit.js';
import { readNotebookPod } from '../../../src/server/kube/workspace.js';
import { WORKFLOWS } from '../../../src/server/kube/client.js';
import type { IFakeCluster } from '../../support/kube/index.js';
import { compile, FAST_RETRY, startCluster, trainingPlan, TRAINING } from './helpers.js';

interface IRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

function role(): { kind: string; rules: IRule[] }[] {
  return parseAllDocuments(fs.readFileSync('deploy/rbac.yaml', 'utf-8')).map(d => d.toJSON());
}

describe('deploy/rbac.yaml', () => {
  let cluster: IFakeCluster;
  afterEach(async () => {
    await cluster?.close();
  });

  it('is a namespaced Role, ServiceAccount and RoleBinding with the listed privileges only', () => {
    const docs = role();
    expect(docs.map(d => d.kind).sort()).toEqual(['Role', 'RoleBinding', 'ServiceAccount']);
    const rules = docs.find(d => d.kind === 'Role')!.rules;
    const granted = rules.flatMap(r =>
      r.apiGroups.flatMap(g =>
        r.resources.flatMap(res => r.verbs.map(v => `${v} ${res}${g ? `.${g}` : ''}`))
      )
    );
    expect(granted.sort()).toEqual(
      [
        'create workflows.argoproj.io',
        'get workflows.argoproj.io',
        'list workflows.argoproj.io',
        'watch workflows.argoproj.io',
        'patch workflows.argoproj.io',
        'create volumesnapshots.snapshot.storage.k8s.io',
        'get volumesnapshots.snapshot.storage.k8s.io',
        'delete volumesnapshots.snapshot.storage.k8s.io',
        'create persistentvolumeclaims',
        'get persistentvolumeclaims',
        'delete persistentvolumeclaims',
        'get pods',
        'list pods',
        'get pods/log',
        'create tensorboards.tensorboard.kubeflow.org',
        'get tensorboards.tensorboard.kubeflow.org',
        'delete tensorboards.tensorboard.kubeflow.org'
      ].sort()
    );
  });

  it('covers every call of a full run: pod discovery, snapshot, submit, follow, logs, cancel', async () => {
    cluster = await startCluster();
    cluster.put({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'notebook-0',
        namespace: cluster.namespace,
        labels: { 'notebook-name': 'notebook' }
      },
      spec: {
        containers: [
          {
            name: 'notebook',
            image: 'kubeflownotebookswg/jupyter-scipy:v1.8.0',
            volumeMounts: [{ name: 'ws', mountPath: '/home/jovyan' }]
          }
        ],
        volumes: [{ name: 'ws', persistentVolumeClaim: { claimName: 'workspace' } }]
      }
    });
    const calls: IKubeOperation[] = [];
    const config = loadClusterConfig({ kubeconfig: cluster.kubeconfigPath, env: {} });
    const client = createKubeClient(config.kubeConfig, config.namespace, {
      retry: FAST_RETRY,
      onRequest: op => calls.push(op)
    });
    const pod = await readNotebookPod(client, 'notebook-0');
    expect(pod.volumes).toEqual([{ pvc: 'workspace', mountPath: '/home/jovyan' }]);
    expect(pod.image).toBe('kubeflownotebookswg/jupyter-scipy:v1.8.0');
    const submitted = await submitWorkflow({
      client,
      plan: trainingPlan(),
      notebook: TRAINING,
      compile,
      workspace: pod.volumes,
      mode: 'snapshot',
      snapshotPollMs: 20
    });
    const final = await followWorkflow(client, submitted.record, {});
    expect(final.status).toBe('succeeded');
    const wf = await client.get(WORKFLOWS, submitted.record.id);
    const node = workflowNodes(wf).find(n => n.type === 'Pod')!;
    expect(
      await fetchNodeLog(
        client,
        submitted.record.id,
        node,
        (await workflowPods(client, submitted.record.id)) ?? undefined
      )
    ).toBeTruthy();
    await cancelWorkflow(client, submitted.record.id);

    const rules = role().find(d => d.kind === 'Role')!.rules;
    const allowed = (op: IKubeOperation): boolean =>
      rules.some(
        r =>
          r.verbs.includes(op.verb) &&
          r.apiGroups.some(g => r.resources.some(res => (g ? `${res}.${g}` : res) === op.resource))
      );
    const used = new Set(calls.map(c => `${c.verb} ${c.resource}`));
    expect(used.size).toBeGreaterThanOrEqual(8);
    expect(
      [...used].filter(
        u =>
          !allowed({
            verb: u.split(' ')[0] as IKubeOperation['verb'],
            resource: u.split(' ')[1],
            namespace: ''
          })
      )
    ).toEqual([]);
  });
});
