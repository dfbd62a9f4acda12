/**
 * End to end against the test API server through a kubeconfig (the real client-node path):
 * snapshot a PVC, submit, follow to the end with logs kept, under injected faults.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunEvent } from '../../../src/core/runs.js';
import { WORKFLOWS } from '../../../src/server/kube/client.js';
import { cancelWorkflow, followWorkflow } from '../../../src/server/kube/monitor.js';
import { RunRecordStore } from '../../../src/server/common/store.js';
import { newRunRecord } from '../../../src/server/common/records.js';
import { submitWorkflow } from '../../../src/server/kube/submit.js';
import type { IFakeCluster } from '../../support/kube/index.js';
import { argoPodName } from '../../support/kube/index.js';
import {
  clientFor,
  startCluster,
  trainingSubmit,
  tempDir,
  trainingPlan,
  TRAINING,
  workflowCreates
} from './helpers.js';

type Obj = Record<string, unknown>;
const o = (v: unknown): Obj => (v && typeof v === 'object' ? (v as Obj) : {});
const a = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

describe('submit and follow an Argo run on the cluster', () => {
  let cluster: IFakeCluster;
  afterEach(async () => {
    await cluster?.close();
  });

  async function submitAndFollow(options: { faults?: (c: IFakeCluster) => void } = {}) {
    const client = clientFor(cluster);
    const submitOptions = trainingSubmit(client);
    const plan = submitOptions.plan;
    const submitted = await submitWorkflow(submitOptions);
    options.faults?.(cluster);
    const dir = tempDir();
    const store = new RunRecordStore(dir);
    const events: RunEvent[] = [];
    const progress: string[] = [];
    const final = await followWorkflow(client, submitted.record, {
      store,
      onEvent: e => events.push(e),
      onProgress: m => progress.push(m),
      idleMs: 2000,
      retry: { baseDelayMs: 5, maxDelayMs: 50 }
    });
    return { client, plan, submitted, store, events, final, dir, progress };
  }

  it('snapshots the PVC, mounts the restored volume in every step, follows to Succeeded and keeps the logs', async () => {
    cluster = await startCluster();
    const { plan, submitted, store, events, final } = await submitAndFollow();
    const name = submitted.record.id;
    expect(final.status).toBe('succeeded');
    expect(final.steps.map(s => s.status)).toEqual(plan.steps.map(() => 'succeeded'));

    // The snapshot exists, is of the workspace PVC, and is owned by the Workflow.
    const wf = cluster.get('argoproj.io', 'v1alpha1', 'workflows', cluster.namespace, name)!;
    const uid = o(wf.metadata).uid;
    const snaps = cluster.list(
      'snapshot.storage.k8s.io',
      'v1',
      'volumesnapshots',
      cluster.namespace
    );
    expect(snaps).toHaveLength(1);
    const snap = snaps[0];
    expect(o(o(snap.spec).source).persistentVolumeClaimName).toBe('workspace');
    expect(a(o(snap.metadata).ownerReferences)).toEqual([
      expect.objectContaining({ kind: 'Workflow', name, uid })
    ]);

    // The Workflow restores a PVC from it and every step mounts it at the notebook's path.
    const spec = o(wf.spec);
    const restored = a(spec.volumeClaimTemplates)
      .map(o)
      .find(t => o(o(t.spec).dataSource).kind === 'VolumeSnapshot');
    expect(restored).toBeDefined();
    expect(o(o(restored!.spec).dataSource).name).toBe(o(snap.metadata).name);
    expect(o(o(o(restored!.spec).resources).requests).storage).toBe('5Gi');
    const volName = o(restored!.metadata).name;
    // Steps share templates (one per image/limits/... combination); each task names its own.
    const templates = a(spec.templates).map(o);
    const tasks = templates.flatMap(t => (t.dag ? a(o(t.dag).tasks).map(o) : []));
    const templateOf = new Map(tasks.map(t => [String(t.name), String(t.template)]));
    const stepTemplates = plan.steps.map(s => templates.find(t => t.name === templateOf.get(s.id)));
    for (const t of stepTemplates) {
      expect(t?.container).toBeDefined();
      expect(a(o(t!.container).volumeMounts)).toContainEqual(
        expect.objectContaining({ name: volName, mountPath: '/home/jovyan' })
      );
    }
    expect(spec.suspend).toBeUndefined();

    // Every step's log is in the events and in the run record, identical to the pod's log.
    for (const step of plan.steps) {
      const pod = argoPodName(name, templateOf.get(step.id)!, `${name}.${step.id}`);
      const podLog = cluster.podLogs.get(pod, 'main');
      expect(podLog).toBeTruthy();
      expect(store.readLog(name, step.id)).toBe(podLog);
      const lines = events.filter(e => e.event === 'log' && e.step === step.name);
      expect(lines.length).toBeGreaterThan(0);
    }
    expect(store.readRecord(name)?.status).toBe('succeeded');
    expect(events[0].event).toBe('run-started');
    expect(events[events.length - 1]).toMatchObject({ event: 'run-finished', status: 'succeeded' });
    expect(workflowCreates(cluster)).toBe(1);
  });

  it('follows the run to its end through dropped watches, compaction, 429 bursts, 500s and slow responses', async () => {
    cluster = await startCluster({
      controller: { argo: true, snapshots: true, stepDelayMs: 150, snapshotReadyDelayMs: 30 }
    });
    cluster.faults.next({
      method: 'POST',
      pathIncludes: '/workflows',
      status: 429,
      times: 3,
      retryAfterSeconds: 0
    });
    cluster.faults.next({ method: 'GET', pathIncludes: 'volumesnapshots', status: 500, times: 2 });
    const { plan, submitted, store, final, events, progress } = await submitAndFollow({
      faults: c => {
        c.faults.dropWatchesAfter(50);
        c.faults.next({ method: 'GET', pathIncludes: 'watch=true', status: 500, times: 1 });
        c.faults.next({
          method: 'GET',
          pathIncludes: '/pods',
          status: 429,
          times: 4,
          retryAfterSeconds: 0
        });
        c.faults.next({ method: 'GET', pathIncludes: '/log', status: 503, times: 2 });
        c.faults.slow(20);
        // Compaction: a reconnect from an old resourceVersion gets 410 and relists.
        setTimeout(() => c.faults.compactBefore(c.resourceVersion()), 200);
      }
    });
    expect(final.status).toBe('succeeded');
    for (const step of plan.steps) {
      expect(store.readLog(submitted.record.id, step.id)).toBeTruthy();
    }
    const finished = events
      .filter(e => e.event === 'step-finished')
      .map(e => (e as { step: string }).step);
    expect(finished.sort()).toEqual(plan.steps.map(s => s.name).sort());
    expect(workflowCreates(cluster)).toBe(1);
    const watches = cluster.requests.filter(r => r.query.includes('watch=true'));
    expect(watches.length).toBeGreaterThan(1);
    // The faults did happen: the client saw them and carried on.
    const statuses = new Set(cluster.requests.map(r => r.status));
    for (const code of [429, 500, 503]) {
      expect(statuses.has(code)).toBe(true);
    }
    expect(progress.length).toBeGreaterThan(0);
  });

  it('relists after 410 Gone when it reconnects from a compacted resourceVersion', async () => {
    cluster = await startCluster({ controller: {} });
    const client = clientFor(cluster);
    const plan = trainingPlan();
    const name = 'training-410';
    const wf = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Workflow',
      metadata: { name, namespace: cluster.namespace },
      spec: { entrypoint: 'pipeline', templates: [{ name: 'pipeline', dag: { tasks: [] } }] },
      status: { phase: 'Running', nodes: {} }
    };
    cluster.put(wf);
    const record = newRunRecord(plan, name, TRAINING, {
      namespace: cluster.namespace,
      workflow: name
    });
    const progress: string[] = [];
    const following = followWorkflow(client, record, {
      onProgress: m => progress.push(m),
      retry: { baseDelayMs: 5, maxDelayMs: 50 },
      logs: false
    });
    const until = async (cond: () => boolean): Promise<void> => {
      for (let i = 0; i < 400 && !cond(); i++) {
        await new Promise(r => setTimeout(r, 10));
      }
      expect(cond()).toBe(true);
    };
    await until(() => cluster.requests.some(r => r.query.includes('watch=true')));
    // Other objects change; history before now is compacted; the watch drops.
    cluster.put({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'other', namespace: cluster.namespace },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } }
    });
    cluster.faults.compactBefore(cluster.resourceVersion());
    cluster.faults.dropWatchesAfter(1);
    await until(() => progress.some(m => m.includes('410')));
    cluster.faults.clear();
    const nodes = Object.fromEntries(
      plan.steps.map(s => [
        `${name}-${s.id}`,
        {
          id: `${name}-${s.id}`,
          name: `${name}.${s.id}`,
          displayName: s.id,
          type: 'Pod',
          phase: 'Succeeded',
          templateName: s.id
        }
      ])
    );
    cluster.put({ ...wf, status: { phase: 'Succeeded', nodes } });
    const final = await following;
    expect(final.status).toBe('succeeded');
    expect(final.steps.every(s => s.status === 'succeeded')).toBe(true);
    const lists = cluster.requests.filter(
      r =>
        r.method === 'GET' && r.query.includes('fieldSelector') && !r.query.includes('watch=true')
    );
    expect(lists.length).toBeGreaterThanOrEqual(2);
  });

  it('never creates a second run: double submit, and a create retried after a time-out', async () => {
    cluster = await startCluster({ controller: { argo: true, snapshots: true, stepDelayMs: 400 } });
    const base = trainingSubmit(clientFor(cluster));
    // The server is slower than the client's time-out while it creates the Workflow: the first
    // create lands but its answer is lost; the retry gets 409 and attaches.
    const slowClient = clientFor(cluster, {
      baseDelayMs: 5,
      maxDelayMs: 50,
      timeoutMs: 250,
      attempts: 10
    });
    const wrapped = {
      ...slowClient,
      namespace: slowClient.namespace,
      get: slowClient.get.bind(slowClient),
      list: slowClient.list.bind(slowClient),
      patch: slowClient.patch.bind(slowClient),
      delete: slowClient.delete.bind(slowClient),
      watch: slowClient.watch.bind(slowClient),
      podLog: slowClient.podLog.bind(slowClient),
      create: async (resource: typeof WORKFLOWS, body: Obj) => {
        if (resource.plural === 'workflows') {
          cluster.faults.slow(400);
          setTimeout(() => cluster.faults.slow(0), 500);
        }
        return slowClient.create(resource, body);
      }
    };
    const first = await submitWorkflow({ ...base, client: wrapped });
    const posts = cluster.requests.filter(
      r => r.method === 'POST' && r.path.endsWith('/workflows')
    );
    expect(posts.length).toBeGreaterThan(1);
    expect(first.attached).toBe(true);

    // Two more identical submits at once (a double click): both attach to the same run.
    const client = clientFor(cluster);
    const [second, third] = await Promise.all([
      submitWorkflow({ ...base, client }),
      submitWorkflow({ ...base, client })
    ]);
    expect(second.record.id).toBe(first.record.id);
    expect(third.record.id).toBe(first.record.id);
    expect(second.attached && third.attached).toBe(true);
    expect(workflowCreates(cluster)).toBe(1);
    expect(cluster.list('argoproj.io', 'v1alpha1', 'workflows', cluster.namespace)).toHaveLength(1);
  });

  it('cancels a run with spec.shutdown: the run and its unfinished steps end cancelled', async () => {
    cluster = await startCluster({ controller: { argo: true, snapshots: true, stepDelayMs: 300 } });
    const client = clientFor(cluster);
    const plan = trainingPlan();
    const submitted = await submitWorkflow(
      trainingSubmit(client, { plan, workspace: [], mode: 'none' })
    );
    const events: RunEvent[] = [];
    const following = followWorkflow(client, submitted.record, {
      onEvent: e => {
        events.push(e);
        if (
          e.event === 'step-started' &&
          events.filter(x => x.event === 'step-started').length === 1
        ) {
          void cancelWorkflow(client, submitted.record.id);
        }
      }
    });
    const final = await following;
    expect(final.status).toBe('cancelled');
    expect(final.steps.some(s => s.status === 'cancelled')).toBe(true);
    expect(final.steps.every(s => s.status !== 'pending' && s.status !== 'running')).toBe(true);
    const wf = cluster.get(
      'argoproj.io',
      'v1alpha1',
      'workflows',
      cluster.namespace,
      submitted.record.id
    )!;
    expect(o(wf.spec).shutdown).toBe('Terminate');
  });

  it('no credential lands in the manifest or the run record', async () => {
    cluster = await startCluster();
    const { submitted, dir } = await submitAndFollow();
    const wf = cluster.get(
      'argoproj.io',
      'v1alpha1',
      'workflows',
      cluster.namespace,
      submitted.record.id
    );
    expect(JSON.stringify(wf)).not.toContain(cluster.token);
    const files = fs.readdirSync(dir, { recursive: true }) as string[];
    for (const f of files) {
      const full = path.join(dir, f);
      if (fs.statSync(full).isFile()) {
        expect(fs.readFileSync(full, 'utf-8')).not.toContain(cluster.token);
      }
    }
  });
});
