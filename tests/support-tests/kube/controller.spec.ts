/**
 * The test controller seen through client-node: Argo runs a Workflow's DAG in order with a Pod and a
 * log per step, failures and shutdown, the snapshot controller readies a VolumeSnapshot, the binder
 * binds a PVC restored from it.
 */
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions
} from '@kubernetes/client-node';

import { IFakeCluster, argoPodName, startFakeCluster } from '../../support/kube/index.js';
import { pvc, volumeSnapshot, waitFor, workflow } from './manifests.js';

const WF = { group: 'argoproj.io', version: 'v1alpha1', plural: 'workflows' };
const VS = { group: 'snapshot.storage.k8s.io', version: 'v1', plural: 'volumesnapshots' };

interface INode {
  id: string;
  name: string;
  displayName: string;
  type: string;
  phase: string;
  templateName: string;
  message?: string;
  startedAt?: string;
  finishedAt?: string;
}

interface IWorkflowStatus {
  phase?: string;
  message?: string;
  nodes?: Record<string, INode>;
}

function connect(cluster: IFakeCluster): { core: CoreV1Api; custom: CustomObjectsApi } {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  return { core: kc.makeApiClient(CoreV1Api), custom: kc.makeApiClient(CustomObjectsApi) };
}

async function status(
  custom: CustomObjectsApi,
  namespace: string,
  name: string
): Promise<IWorkflowStatus> {
  const wf = (await custom.getNamespacedCustomObject({ ...WF, namespace, name })) as {
    status?: IWorkflowStatus;
  };
  return wf.status ?? {};
}

async function untilDone(
  custom: CustomObjectsApi,
  namespace: string,
  name: string
): Promise<IWorkflowStatus> {
  return waitFor(async () => {
    const s = await status(custom, namespace, name);
    return s.phase === 'Succeeded' || s.phase === 'Failed' ? s : undefined;
  }, 10000);
}

function podNodes(s: IWorkflowStatus): INode[] {
  return Object.values(s.nodes ?? {}).filter(n => n.type === 'Pod');
}

describe('fake cluster: Argo controller', () => {
  let cluster: IFakeCluster;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;

  beforeAll(async () => {
    cluster = await startFakeCluster({
      controller: {
        argo: true,
        snapshots: true,
        stepDelayMs: 30,
        failSteps: ['train'],
        stepLogs: { load: 'loaded 891 rows\n' }
      }
    });
    ({ core, custom } = connect(cluster));
  });
  afterAll(() => cluster.close());

  it('drives a Workflow Pending -> Running -> Succeeded, steps in dependency order, one Pod and log per step', async () => {
    const body = workflow('titanic-ok');
    const tasks = ((body.spec as { templates: Array<{ dag?: { tasks: Array<{ name: string }> } }> })
      .templates[0].dag?.tasks ?? []) as Array<{ name: string }>;
    tasks[1].name = 'fit';
    (tasks[2] as { dependencies?: string[] }).dependencies = ['fit'];
    // Every phase the Workflow went through (Pending lasts a few ms: polling could miss it).
    const phases: string[] = [];
    const stop = cluster.observe(change => {
      const wf = change.object as { metadata?: { name?: string }; status?: IWorkflowStatus };
      const phase = wf.status?.phase;
      if (wf.metadata?.name === 'titanic-ok' && phase && phases[phases.length - 1] !== phase) {
        phases.push(phase);
      }
    });
    await custom.createNamespacedCustomObject({ ...WF, namespace: cluster.namespace, body });
    const done = await untilDone(custom, cluster.namespace, 'titanic-ok');
    stop();
    expect(phases[0]).toBe('Pending');
    expect(phases).toContain('Running');
    expect(done.phase).toBe('Succeeded');
    const nodes = podNodes(done);
    expect(nodes.map(n => n.displayName).sort()).toEqual(['evaluate', 'fit', 'load']);
    const byName = Object.fromEntries(nodes.map(n => [n.displayName, n]));
    expect(byName.load).toMatchObject({
      name: 'titanic-ok.load',
      templateName: 'load',
      phase: 'Succeeded'
    });
    expect(Date.parse(byName.fit.startedAt ?? '')).toBeGreaterThanOrEqual(
      Date.parse(byName.load.finishedAt ?? '')
    );
    expect(Date.parse(byName.evaluate.startedAt ?? '')).toBeGreaterThanOrEqual(
      Date.parse(byName.fit.finishedAt ?? '')
    );

    const pods = await core.listNamespacedPod({
      namespace: cluster.namespace,
      labelSelector: 'workflows.argoproj.io/workflow=titanic-ok'
    });
    expect(pods.items).toHaveLength(3);
    const loadPod = argoPodName('titanic-ok', 'load', 'titanic-ok.load');
    expect(pods.items.map(p => p.metadata?.name)).toContain(loadPod);
    const log = await core.readNamespacedPodLog({
      name: loadPod,
      namespace: cluster.namespace,
      container: 'main'
    });
    expect(log).toBe('loaded 891 rows\n');
    const fitLog = await core.readNamespacedPodLog({
      name: argoPodName('titanic-ok', 'train', 'titanic-ok.fit'),
      namespace: cluster.namespace,
      container: 'main'
    });
    expect(fitLog).toContain('fit');
  });

  it('fails the Workflow when a step fails and omits the steps after it', async () => {
    await custom.createNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      body: workflow('titanic-fail')
    });
    const done = await untilDone(custom, cluster.namespace, 'titanic-fail');
    expect(done.phase).toBe('Failed');
    const byName = Object.fromEntries(Object.values(done.nodes ?? {}).map(n => [n.displayName, n]));
    expect(byName.load.phase).toBe('Succeeded');
    expect(byName.train).toMatchObject({ phase: 'Failed', message: 'Error (exit code 1)' });
    expect(byName.evaluate.phase).toBe('Omitted');
    expect(done.message).toBe(`child '${byName.train.id}' failed`);
  });

  it('stops a running Workflow on spec.shutdown: Terminate', async () => {
    const slow = await startFakeCluster({ controller: { argo: true, stepDelayMs: 5000 } });
    try {
      const { custom: api } = connect(slow);
      await api.createNamespacedCustomObject({
        ...WF,
        namespace: slow.namespace,
        body: workflow('to-stop')
      });
      await waitFor(async () => {
        const s = await status(api, slow.namespace, 'to-stop');
        return podNodes(s).some(n => n.phase === 'Running') ? true : undefined;
      });
      await api.patchNamespacedCustomObject(
        {
          ...WF,
          namespace: slow.namespace,
          name: 'to-stop',
          body: { spec: { shutdown: 'Terminate' } }
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch)
      );
      const done = await untilDone(api, slow.namespace, 'to-stop');
      expect(done).toMatchObject({ phase: 'Failed', message: "Stopped with strategy 'Terminate'" });
      const load = podNodes(done).find(n => n.displayName === 'load');
      expect(load).toMatchObject({
        phase: 'Failed',
        message: 'workflow shutdown with strategy:  Terminate'
      });
    } finally {
      await slow.close();
    }
  });

  it('fails a Workflow whose DAG depends on an undefined task with an invalid-spec message', async () => {
    const body = workflow('bad-dep');
    const dag = (
      body.spec as { templates: Array<{ dag?: { tasks: Array<{ dependencies?: string[] }> } }> }
    ).templates[0].dag;
    if (dag) {
      dag.tasks[1].dependencies = ['loda'];
    }
    await custom.createNamespacedCustomObject({ ...WF, namespace: cluster.namespace, body });
    const done = await untilDone(custom, cluster.namespace, 'bad-dep');
    expect(done.phase).toBe('Failed');
    expect(done.message).toBe(
      "invalid spec: templates.pipeline.tasks.train dependency 'loda' not defined"
    );
  });

  it('snapshots a PVC, binds a PVC restored from it, and runs steps that mount it', async () => {
    await core.createNamespacedPersistentVolumeClaim({
      namespace: cluster.namespace,
      body: pvc('workspace-nb', '10Gi')
    });
    await custom.createNamespacedCustomObject({
      ...VS,
      namespace: cluster.namespace,
      body: volumeSnapshot('nb-snap', 'workspace-nb')
    });
    const ready = await waitFor(async () => {
      const vs = (await custom.getNamespacedCustomObject({
        ...VS,
        namespace: cluster.namespace,
        name: 'nb-snap'
      })) as {
        status?: {
          readyToUse?: boolean;
          restoreSize?: string;
          boundVolumeSnapshotContentName?: string;
        };
      };
      return vs.status?.readyToUse ? vs.status : undefined;
    });
    expect(ready.restoreSize).toBe('10Gi');
    expect(ready.boundVolumeSnapshotContentName).toMatch(/^snapcontent-/);

    // Smaller than restoreSize: never bound.
    await core.createNamespacedPersistentVolumeClaim({
      namespace: cluster.namespace,
      body: pvc('restored-small', '1Gi', { name: 'nb-snap' })
    });
    await core.createNamespacedPersistentVolumeClaim({
      namespace: cluster.namespace,
      body: pvc('restored', '10Gi', { name: 'nb-snap' })
    });
    await waitFor(async () => {
      const claim = await core.readNamespacedPersistentVolumeClaim({
        name: 'restored',
        namespace: cluster.namespace
      });
      return claim.status?.phase === 'Bound' ? true : undefined;
    });
    const small = await core.readNamespacedPersistentVolumeClaim({
      name: 'restored-small',
      namespace: cluster.namespace
    });
    expect(small.status?.phase).toBe('Pending');

    await custom.createNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      body: workflow('mounts-restored', { claim: 'restored' })
    });
    const done = await untilDone(custom, cluster.namespace, 'mounts-restored');
    // failSteps: ['train'] applies to this cluster; the first step ran with the volume mounted.
    expect(podNodes(done).find(n => n.displayName === 'load')?.phase).toBe('Succeeded');
  });

  it('starts no step of a suspended Workflow until spec.suspend is patched to false', async () => {
    const starts: string[] = [];
    const stop = cluster.observe(change => {
      const meta = change.object.metadata as { name?: string; labels?: Record<string, string> };
      if (
        change.resource === '/pods' &&
        change.type === 'ADDED' &&
        meta.labels?.['workflows.argoproj.io/workflow'] === 'held'
      ) {
        starts.push(meta.name ?? '');
      }
    });
    try {
      await custom.createNamespacedCustomObject({
        ...WF,
        namespace: cluster.namespace,
        body: workflow('held', { suspend: true })
      });
      await waitFor(async () =>
        (await status(custom, cluster.namespace, 'held')).phase === 'Running' ? true : undefined
      );
      // Many controller ticks (stepDelayMs 30) later, still nothing has started.
      await new Promise(resolve => setTimeout(resolve, 300));
      const held = await status(custom, cluster.namespace, 'held');
      expect(held.phase).toBe('Running');
      expect(podNodes(held)).toEqual([]);
      expect(starts).toEqual([]);

      await custom.patchNamespacedCustomObject(
        { ...WF, namespace: cluster.namespace, name: 'held', body: { spec: { suspend: false } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch)
      );
      const done = await untilDone(custom, cluster.namespace, 'held');
      // failSteps: ['train'] applies to this cluster: load ran once resumed.
      expect(podNodes(done).find(n => n.displayName === 'load')?.phase).toBe('Succeeded');
      expect(starts).toContain(argoPodName('held', 'load', 'held.load'));
    } finally {
      stop();
    }
  });

  it('creates the PVCs of volumeClaimTemplates, owned by the Workflow, and runs no step before a restored one is bound', async () => {
    await core.createNamespacedPersistentVolumeClaim({
      namespace: cluster.namespace,
      body: pvc('source-ws', '2Gi')
    });
    await custom.createNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      body: workflow('from-snap', { restored: { snapshot: 'late-snap', size: '2Gi' } })
    });
    const waiting = await waitFor(async () => {
      const s = await status(custom, cluster.namespace, 'from-snap');
      return podNodes(s).find(n => n.message?.includes('unbound immediate PersistentVolumeClaims'));
    });
    expect(waiting).toMatchObject({ displayName: 'load', phase: 'Pending' });
    const claim = await core.readNamespacedPersistentVolumeClaim({
      name: 'from-snap-workspace',
      namespace: cluster.namespace
    });
    expect(claim.status?.phase).toBe('Pending');
    expect(claim.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: 'Workflow',
      name: 'from-snap'
    });
    expect(claim.spec?.dataSource).toMatchObject({ kind: 'VolumeSnapshot', name: 'late-snap' });

    // The snapshot appears, becomes ready, the claim is bound, the steps run.
    await custom.createNamespacedCustomObject({
      ...VS,
      namespace: cluster.namespace,
      body: volumeSnapshot('late-snap', 'source-ws')
    });
    const done = await untilDone(custom, cluster.namespace, 'from-snap');
    expect(podNodes(done).find(n => n.displayName === 'load')?.phase).toBe('Succeeded');
    const pod = (
      await core.listNamespacedPod({
        namespace: cluster.namespace,
        labelSelector: 'workflows.argoproj.io/workflow=from-snap'
      })
    ).items[0];
    expect(pod.spec?.volumes).toContainEqual(
      expect.objectContaining({
        name: 'workspace',
        persistentVolumeClaim: { claimName: 'from-snap-workspace' }
      })
    );
  });

  it('keeps a step Pending while the PVC it mounts does not exist', async () => {
    await custom.createNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      body: workflow('no-claim', { claim: 'missing-claim' })
    });
    const waiting = await waitFor(async () => {
      const s = await status(custom, cluster.namespace, 'no-claim');
      return podNodes(s).find(n =>
        n.message?.includes('persistentvolumeclaim "missing-claim" not found')
      );
    });
    expect(waiting.phase).toBe('Pending');
    const podName = argoPodName('no-claim', 'load', 'no-claim.load');
    try {
      await core.readNamespacedPodLog({
        name: podName,
        namespace: cluster.namespace,
        container: 'main'
      });
      throw new Error('expected the log request to fail');
    } catch (err) {
      expect(err).toBeInstanceOf(ApiException);
      expect((err as ApiException<string>).code).toBe(400);
      expect(String((err as ApiException<string>).body)).toContain('is waiting to start');
    }
  });

  it('reports a snapshot that cannot be taken (no default class) in status.error and never readies it', async () => {
    const bare = await startFakeCluster({
      snapshotClasses: [],
      controller: { snapshots: true, snapshotReadyDelayMs: 5 }
    });
    try {
      const { core: c, custom: api } = connect(bare);
      await c.createNamespacedPersistentVolumeClaim({
        namespace: bare.namespace,
        body: pvc('ws', '1Gi')
      });
      await api.createNamespacedCustomObject({
        ...VS,
        namespace: bare.namespace,
        body: volumeSnapshot('s', 'ws')
      });
      const s = await waitFor(async () => {
        const vs = (await api.getNamespacedCustomObject({
          ...VS,
          namespace: bare.namespace,
          name: 's'
        })) as {
          status?: { readyToUse?: boolean; error?: { message: string } };
        };
        return vs.status?.error ? vs.status : undefined;
      });
      expect(s.readyToUse).toBe(false);
      expect(s.error?.message).toContain('cannot find default snapshot class');
    } finally {
      await bare.close();
    }
  });

  it("garbage-collects a Workflow's Pods when the Workflow is deleted", async () => {
    await waitFor(() =>
      cluster
        .list('', 'v1', 'pods', cluster.namespace)
        .some(
          p =>
            (p.metadata as { labels?: Record<string, string> }).labels?.[
              'workflows.argoproj.io/workflow'
            ] === 'titanic-ok'
        )
        ? true
        : undefined
    );
    await custom.deleteNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      name: 'titanic-ok'
    });
    await waitFor(async () => {
      const pods = await core.listNamespacedPod({
        namespace: cluster.namespace,
        labelSelector: 'workflows.argoproj.io/workflow=titanic-ok'
      });
      return pods.items.length === 0 ? true : undefined;
    });
  });
});
