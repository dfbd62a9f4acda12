/**
 * End to end against the test API server through a kubeconfig (the real client-node path):
 * snapshot a PVC, submit, follow to the end with logs kept. The same under injected faults (429
 * bursts, 500s, dropped watches, 410, slow and lost answers, double submits) runs on the real API
 * server in tests/cluster/faults.spec.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunEvent } from '../../../src/core/runs.js';
import { cancelWorkflow, followWorkflow } from '../../../src/server/kube/monitor.js';
import { RunRecordStore } from '../../../src/server/common/store.js';
import { submitWorkflow } from '../../../src/server/kube/submit.js';
import type { IFakeCluster } from '../../support/kube/index.js';
import { argoPodName } from '../../support/kube/index.js';
import {
  clientFor,
  startCluster,
  trainingSubmit,
  tempDir,
  trainingPlan,
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

  async function submitAndFollow() {
    const client = clientFor(cluster);
    const submitOptions = trainingSubmit(client);
    const plan = submitOptions.plan;
    const submitted = await submitWorkflow(submitOptions);
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
