/** When snapshots cannot be had, the message names the cause and offers the alternatives. */
import { SnapshotError } from '../../../src/server/kube/snapshot.js';
import { submitWorkflow } from '../../../src/server/kube/submit.js';
import { WorkspaceError } from '../../../src/server/kube/workspace.js';
import type { IFakeCluster, IFakeClusterOptions } from '../../support/kube/index.js';
import { clientFor, compile, startCluster, trainingPlan, TRAINING } from './helpers.js';

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
      await submitWorkflow({
        client: clientFor(cluster),
        plan: trainingPlan(),
        notebook: TRAINING,
        compile,
        workspace: [{ pvc: 'workspace', mountPath: '/home/jovyan' }],
        mode: extra.mode ?? 'snapshot',
        snapshotTimeoutMs: extra.timeoutMs ?? 5000,
        snapshotPollMs: 20
      });
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
    const base = {
      client: clientFor(cluster),
      plan: trainingPlan(),
      notebook: TRAINING,
      compile,
      workspace: [{ pvc: 'workspace', mountPath: '/home/jovyan' }]
    };
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
