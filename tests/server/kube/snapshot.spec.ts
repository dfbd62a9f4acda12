/** When snapshots cannot be had, the message names the cause and offers the alternatives. */
import { followWorkflow } from '../../../src/server/kube/monitor.js';
import { SnapshotError } from '../../../src/server/kube/snapshot.js';
import { submitWorkflow } from '../../../src/server/kube/submit.js';
import { WorkspaceError } from '../../../src/server/kube/workspace.js';
import type { IChange, IFakeCluster, IFakeClusterOptions } from '../../support/kube/index.js';
import { waitFor } from '../../support/kube/index.js';
import { clientFor, startCluster, trainingSubmit } from './helpers.js';

describe('workspace snapshots that cannot be had', () => {
  let cluster: IFakeCluster;
  afterEach(async () => {
    await cluster?.close();
  });

  async function attempt(
    options: IFakeClusterOptions,
    extra: { timeoutMs?: number; mode?: 'snapshot' | 'live' } = {}
  ): Promise<unknown> {
    cluster = await startCluster(options);
    try {
      await submitWorkflow(
        trainingSubmit(clientFor(cluster), {
          mode: extra.mode ?? 'snapshot',
          snapshotTimeoutMs: extra.timeoutMs ?? 5000
        })
      );
    } catch (error) {
      return error;
    }
    throw new Error('the submit did not fail');
  }

  it('no VolumeSnapshot CRD', async () => {
    const error = await attempt({ crds: { volumeSnapshots: false } });
    expect(error).toBeInstanceOf(SnapshotError);
    expect((error as SnapshotError).cause).toBe('no-crd');
    expect((error as Error).message).toMatch(/does not serve snapshot\.storage\.k8s\.io\/v1/);
    expect((error as Error).message).toMatch(/--no-workspace/);
    // The ReadWriteOnce PVC cannot be shared live, and the message says so.
    expect((error as Error).message).toMatch(
      /--live-pvc is not possible: "workspace" is ReadWriteOnce/
    );
  });

  it('no default VolumeSnapshotClass', async () => {
    const error = await attempt({ snapshotClasses: [] });
    expect((error as SnapshotError).cause).toBe('no-class');
    expect((error as Error).message).toMatch(/no VolumeSnapshotClass for PVC "workspace"/);
    expect((error as Error).message).toMatch(/--snapshot-class/);
  });

  it('not ready in time (no snapshot controller)', async () => {
    const error = await attempt({ controller: { argo: true } }, { timeoutMs: 300 });
    expect((error as SnapshotError).cause).toBe('timeout');
    expect((error as Error).message).toMatch(/was not ready to use after \d+s/);
    expect((error as Error).message).toMatch(/--snapshot-timeout/);
    // The suspended Workflow is stopped so it does not wait forever.
    const wfs = cluster.list('argoproj.io', 'v1alpha1', 'workflows', cluster.namespace);
    expect(wfs).toHaveLength(1);
    expect((wfs[0].spec as Record<string, unknown>).shutdown).toBe('Terminate');
  });

  it('forbidden by RBAC: names the verb and the resource', async () => {
    const error = await attempt({
      forbidden: [{ verb: 'create', group: 'snapshot.storage.k8s.io', resource: 'volumesnapshots' }]
    });
    expect((error as SnapshotError).cause).toBe('forbidden');
    expect((error as Error).message).toMatch(
      /forbidden \(403\): not allowed to create volumesnapshots\.snapshot\.storage\.k8s\.io/
    );
  });

  it('offers --live-pvc when the access mode allows it', async () => {
    cluster = await startCluster({ crds: { volumeSnapshots: false } });
    cluster.put({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'workspace', namespace: cluster.namespace },
      spec: { accessModes: ['ReadWriteMany'], resources: { requests: { storage: '5Gi' } } },
      status: { phase: 'Bound', capacity: { storage: '5Gi' } }
    });
    const base = trainingSubmit(clientFor(cluster));
    await expect(submitWorkflow({ ...base, mode: 'snapshot' })).rejects.toThrow(
      /--live-pvc to mount "workspace" read-only in every step/
    );
    const live = await submitWorkflow({ ...base, mode: 'live' });
    const wf = cluster.get(
      'argoproj.io',
      'v1alpha1',
      'workflows',
      cluster.namespace,
      live.record.id
    )!;
    expect(JSON.stringify(wf.spec)).toContain('"claimName":"workspace","readOnly":true');
  });

  it('refuses --live-pvc for a ReadWriteOnce PVC', async () => {
    const error = await attempt({}, { mode: 'live' });
    expect(error).toBeInstanceOf(WorkspaceError);
    expect((error as Error).message).toMatch(/only ReadOnlyMany or ReadWriteMany/);
  });
});

describe('no step starts before the workspace snapshot is ready to use', () => {
  let cluster: IFakeCluster;
  afterEach(async () => {
    await cluster?.close();
  });

  /** Every change to the cluster, in resourceVersion order, from now on. */
  function record(c: IFakeCluster): IChange[] {
    const changes: IChange[] = [];
    c.observe(change => changes.push(change));
    return changes;
  }

  const isPod = (c: IChange): boolean => c.resource === '/pods' && c.type === 'ADDED';
  const isWorkflow = (c: IChange): boolean => c.resource === 'argoproj.io/workflows';
  const statusOf = (c: IChange) =>
    (c.object.status ?? {}) as {
      phase?: string;
      message?: string;
      readyToUse?: boolean;
      nodes?: Record<string, { type?: string }>;
    };
  const podNodes = (c: IChange): unknown[] =>
    Object.values(statusOf(c).nodes ?? {}).filter(n => n.type === 'Pod');

  it('a slow snapshot: the Workflow stays suspended and no pod exists until readyToUse', async () => {
    cluster = await startCluster({
      controller: { argo: true, snapshots: true, stepDelayMs: 20, snapshotReadyDelayMs: 400 }
    });
    const changes = record(cluster);
    const client = clientFor(cluster);
    const submitted = await submitWorkflow(trainingSubmit(client));
    const final = await followWorkflow(client, submitted.record, { idleMs: 2000 });
    expect(final.status).toBe('succeeded');

    const ready = changes.find(
      c =>
        c.resource === 'snapshot.storage.k8s.io/volumesnapshots' && statusOf(c).readyToUse === true
    );
    expect(ready).toBeDefined();
    const readyRv = ready!.rv;
    const pods = changes.filter(isPod);
    expect(pods.length).toBe(final.steps.length);
    expect(pods.every(c => c.rv > readyRv)).toBe(true);
    const workflows = changes.filter(isWorkflow);
    // While the snapshot was not ready the Workflow existed, suspended, and ran no step ...
    const before = workflows.filter(c => c.rv < readyRv);
    expect(before.length).toBeGreaterThan(0);
    expect(before.every(c => (c.object.spec as { suspend?: boolean }).suspend === true)).toBe(true);
    expect(before.every(c => podNodes(c).length === 0)).toBe(true);
    // ... and the first step started after it was.
    const firstStep = workflows.find(c => podNodes(c).length > 0);
    expect(firstStep!.rv).toBeGreaterThan(readyRv);
  });

  it('a snapshot that fails: the Workflow is stopped and no step ever runs', async () => {
    cluster = await startCluster({ snapshotClasses: [] });
    const changes = record(cluster);
    const client = clientFor(cluster);
    await expect(submitWorkflow(trainingSubmit(client))).rejects.toThrow(SnapshotError);
    const ended = await waitFor(() =>
      changes.find(c => isWorkflow(c) && statusOf(c).phase === 'Failed')
    );
    expect(statusOf(ended).message).toBe("Stopped with strategy 'Terminate'");
    expect(changes.filter(isPod)).toEqual([]);
    expect(changes.filter(isWorkflow).every(c => podNodes(c).length === 0)).toBe(true);
  });
});
