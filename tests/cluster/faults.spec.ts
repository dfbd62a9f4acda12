/**
 * Chard's Kubernetes client under faults, on the real API server and Argo's controller: a
 * fault-injecting proxy stands between Chard and kube-apiserver (429 bursts, 500/503, dropped
 * watches, 410 Expired watch events, slow answers, lost answers).
 */
import * as fs from 'node:fs';
import { ApiException, CustomObjectsApi, Watch } from '@kubernetes/client-node';
import { analyzeNotebook } from '../../src/core/analyze.js';
import { compileArgo } from '../../src/core/compile/argo.js';
import { parseNotebook } from '../../src/core/notebook.js';
import type { RunEvent } from '../../src/core/runs.js';
import type { IKubeClient, IKubeObject } from '../../src/server/kube/client.js';
import { createKubeClient } from '../../src/server/kube/client.js';
import { loadClusterConfig } from '../../src/server/kube/config.js';
import { followWorkflow } from '../../src/server/kube/monitor.js';
import { RunRecordStore } from '../../src/server/common/store.js';
import { submitWorkflow } from '../../src/server/kube/submit.js';
import type { Json } from '../support/cluster/admin.js';
import { pem } from '../support/cluster/certs.js';
import type { ICluster } from '../support/cluster/index.js';
import { startCluster, STEP_LOG_LINE } from '../support/cluster/index.js';
import { FaultProxy } from '../support/cluster/proxy.js';
import { TRAINING, workflows } from './support.js';
import * as os from 'node:os';
import * as path from 'node:path';

let cluster: ICluster;
let proxy: FaultProxy;

beforeAll(async () => {
  cluster = await startCluster({ argo: true });
  const dir = path.join(cluster.dir);
  proxy = await FaultProxy.start({
    upstream: cluster.url,
    ca: pem(path.join(dir, 'ca.crt')),
    cert: pem(path.join(dir, 'server.crt')),
    key: pem(path.join(dir, 'server.key'))
  });
}, 1200000);

afterAll(async () => {
  await proxy?.close();
  await cluster?.close();
});

afterEach(() => proxy.clear());

const FAST_RETRY = { baseDelayMs: 20, maxDelayMs: 300, timeoutMs: 5000, attempts: 10 };

function client(retry = FAST_RETRY, onRetry?: (m: string) => void): IKubeClient {
  const kubeconfig = cluster.kubeconfigFor(proxy.url, 'proxied');
  const config = loadClusterConfig({ kubeconfig, env: {} });
  return createKubeClient(config.kubeConfig, config.namespace, { retry, onRetry });
}

function plan(): ReturnType<typeof analyzeNotebook> {
  const nb = parseNotebook(fs.readFileSync(TRAINING, 'utf8'), 'training.ipynb');
  const p = analyzeNotebook(nb, { fileName: 'training.ipynb' });
  return p;
}

const compile = (p: ReturnType<typeof plan>): IKubeObject =>
  compileArgo(p).documents[0] as IKubeObject;

/** The plan with EPOCHS set, so that each test submits a run of its own. */
function planWith(epochs: number): ReturnType<typeof plan> {
  const p = plan();
  return {
    ...p,
    parameters: p.parameters.map(x => (x.name === 'EPOCHS' ? { ...x, value: epochs } : x))
  };
}

const WF = { group: 'argoproj.io', version: 'v1alpha1', plural: 'workflows' };

async function apiError(fn: () => Promise<unknown>): Promise<ApiException<unknown>> {
  try {
    await fn();
  } catch (error) {
    if (error instanceof ApiException) {
      return error;
    }
    throw error;
  }
  throw new Error('expected the call to fail');
}

it('the proxy answers each fault as client-node sees a real API server do it', async () => {
  const config = loadClusterConfig({
    kubeconfig: cluster.kubeconfigFor(proxy.url, 'proxied'),
    env: {}
  });
  const custom = config.kubeConfig.makeApiClient(CustomObjectsApi);
  const namespace = cluster.namespace;
  // A burst of 429 with Retry-After, then the real answer.
  proxy.next({
    method: 'GET',
    pathIncludes: '/workflows',
    status: 429,
    times: 2,
    retryAfterSeconds: 2
  });
  for (let i = 0; i < 2; i++) {
    const error = await apiError(() => custom.listNamespacedCustomObject({ ...WF, namespace }));
    expect(error.code).toBe(429);
    expect(error.headers['retry-after']).toBe('2');
    expect(JSON.parse(String(error.body))).toMatchObject({
      kind: 'Status',
      reason: 'TooManyRequests',
      code: 429
    });
  }
  await expect(custom.listNamespacedCustomObject({ ...WF, namespace })).resolves.toMatchObject({
    kind: 'WorkflowList'
  });
  // A 500 only for the matching request; the next one reaches the server (a real 404).
  proxy.next({ method: 'GET', pathIncludes: '/workflows/no-such-run', status: 500 });
  await expect(custom.listNamespacedCustomObject({ ...WF, namespace })).resolves.toBeTruthy();
  const get = (): Promise<unknown> =>
    custom.getNamespacedCustomObject({ ...WF, namespace, name: 'no-such-run' });
  expect((await apiError(get)).code).toBe(500);
  expect((await apiError(get)).code).toBe(404);
  // A connection reset without an answer.
  proxy.next({ pathIncludes: '/workflows/no-such-run', status: 0 });
  await expect(get()).rejects.toThrow(/socket hang up|ECONNRESET/);
  // A watch from a compacted resourceVersion: HTTP 200 and one ERROR event with a 410 Status.
  const path = `/apis/argoproj.io/v1alpha1/namespaces/${namespace}/workflows`;
  const watch = (query: Record<string, string>): Promise<{ events: Json[]; error: unknown }> =>
    new Promise(resolve => {
      const events: Json[] = [];
      void new Watch(config.kubeConfig).watch(
        path,
        query,
        (type: string, object: Json) => events.push({ type, object }),
        (error: unknown) => resolve({ events, error: error ?? null })
      );
    });
  proxy.expireWatches(1);
  const expired = await watch({ resourceVersion: '1' });
  expect(expired.events).toEqual([
    {
      type: 'ERROR',
      object: expect.objectContaining({ kind: 'Status', reason: 'Expired', code: 410 })
    }
  ]);
  // A watch the server ends (as at its time-out): the stream closes cleanly.
  proxy.dropWatchesAfter(100);
  const list = (await custom.listNamespacedCustomObject({ ...WF, namespace })) as Json;
  const dropped = await watch({ resourceVersion: list.metadata.resourceVersion });
  expect(dropped.error).toBeNull();
  // Slow answers: held, then delivered whole.
  proxy.clear();
  proxy.slow(300, { method: 'GET', pathIncludes: '/workflows', times: 1 });
  const started = Date.now();
  await expect(custom.listNamespacedCustomObject({ ...WF, namespace })).resolves.toMatchObject({
    kind: 'WorkflowList'
  });
  expect(Date.now() - started).toBeGreaterThanOrEqual(290);
});

it('follows a run to its end through 429 bursts, 500s, dropped watches, 410 Expired and slow answers', async () => {
  cluster.pods.outcome = () => 'succeed';
  const retries: string[] = [];
  const c = client(FAST_RETRY, m => retries.push(m));
  proxy.next({
    method: 'POST',
    pathIncludes: '/workflows',
    status: 429,
    times: 3,
    retryAfterSeconds: 0
  });
  proxy.next({ method: 'GET', pathIncludes: '/workflows', status: 500, times: 2 });
  const p = planWith(11);
  const submitted = await submitWorkflow({
    client: c,
    plan: p,
    notebook: TRAINING,
    compile,
    workspace: [],
    mode: 'none'
  });
  // While it runs: watches cut short, one watch answered 410 Expired, 503s on logs, slow answers.
  proxy.dropWatchesAfter(300);
  proxy.expireWatches(1);
  proxy.next({ method: 'GET', pathIncludes: 'watch=true', status: 500, times: 1 });
  proxy.next({ method: 'GET', pathIncludes: '/pods', status: 429, times: 3, retryAfterSeconds: 0 });
  proxy.next({ method: 'GET', pathIncludes: '/log', status: 503, times: 2 });
  proxy.slow(30);
  const store = new RunRecordStore(fs.mkdtempSync(path.join(os.tmpdir(), 'chard-faults-')));
  const events: RunEvent[] = [];
  const progress: string[] = [];
  const final = await followWorkflow(c, submitted.record, {
    store,
    onEvent: e => events.push(e),
    onProgress: m => progress.push(m),
    retry: { baseDelayMs: 20, maxDelayMs: 200 }
  });
  expect(final.status).toBe('succeeded');
  expect(final.steps.every(s => s.status === 'succeeded')).toBe(true);
  for (const step of p.steps) {
    expect(store.readLog(submitted.record.id, step.id)).toContain(STEP_LOG_LINE);
  }
  expect(events[events.length - 1]).toMatchObject({ event: 'run-finished', status: 'succeeded' });
  // One Workflow despite the 429s on its create.
  const mine = (await workflows(cluster)).filter(w => w.metadata.name === submitted.record.id);
  expect(mine).toHaveLength(1);
  expect(
    proxy.count(r => r.method === 'POST' && r.path.includes('/workflows') && r.status === 201)
  ).toBe(1);
  // The faults did happen, and the client carried on: retried, re-watched, relisted after 410.
  for (const code of [429, 500, 503]) {
    expect(proxy.count(r => r.injected && r.status === code)).toBeGreaterThan(0);
  }
  expect(proxy.count(r => r.path.includes('watch=true'))).toBeGreaterThan(1);
  expect(progress.some(m => /410|expired|relist/i.test(m))).toBe(true);
  expect(retries.length).toBeGreaterThan(0);
});

it('never creates a second run: a create whose answer is lost is retried onto the same run, and a double submit attaches', async () => {
  cluster.pods.outcome = () => 'hold';
  const p = planWith(12);
  // The first create lands on the server but its answer arrives after the client's time-out.
  const impatient = client({ ...FAST_RETRY, timeoutMs: 400 });
  proxy.slow(1500, { method: 'POST', pathIncludes: '/workflows', times: 1 });
  const first = await submitWorkflow({
    client: impatient,
    plan: p,
    notebook: TRAINING,
    compile,
    workspace: [],
    mode: 'none'
  });
  expect(proxy.count(r => r.method === 'POST' && r.path.includes('/workflows'))).toBeGreaterThan(1);
  expect(first.attached).toBe(true);
  const c = client();
  const [second, third] = await Promise.all([
    submitWorkflow({
      client: c,
      plan: p,
      notebook: TRAINING,
      compile,
      workspace: [],
      mode: 'none'
    }),
    submitWorkflow({ client: c, plan: p, notebook: TRAINING, compile, workspace: [], mode: 'none' })
  ]);
  expect(second.record.id).toBe(first.record.id);
  expect(third.record.id).toBe(first.record.id);
  const same = (await workflows(cluster)).filter(
    w =>
      w.metadata.labels?.['chard.dev/content-hash'] ===
      first.workflow.metadata?.labels?.['chard.dev/content-hash']
  );
  expect(same).toHaveLength(1);
});
