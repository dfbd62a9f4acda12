/**
 * Fault injection on the test API server as client-node sees it: bursts of 429 (Retry-After) and 500,
 * connection resets, slow responses, and the request log used for "nothing submitted twice".
 */
import { ApiException, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';

import { IFakeCluster, startFakeCluster } from '../../support/kube/index.js';
import { workflow } from './manifests.js';

const WF = { group: 'argoproj.io', version: 'v1alpha1', plural: 'workflows' };

async function apiError(fn: () => Promise<unknown>): Promise<ApiException<unknown>> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof ApiException) {
      return err;
    }
    throw err;
  }
  throw new Error('expected the call to fail');
}

describe('fake cluster: fault injection', () => {
  let cluster: IFakeCluster;
  let custom: CustomObjectsApi;

  beforeAll(async () => {
    cluster = await startFakeCluster();
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    custom = kc.makeApiClient(CustomObjectsApi);
  });
  afterAll(() => cluster.close());
  afterEach(() => cluster.faults.clear());

  it('answers a burst of 429 with Retry-After, then serves normally', async () => {
    cluster.faults.next({
      method: 'POST',
      pathIncludes: '/workflows',
      status: 429,
      times: 2,
      retryAfterSeconds: 2
    });
    const body = workflow('burst-1');
    for (let i = 0; i < 2; i++) {
      const err = await apiError(() =>
        custom.createNamespacedCustomObject({ ...WF, namespace: cluster.namespace, body })
      );
      expect(err.code).toBe(429);
      expect(err.headers['retry-after']).toBe('2');
      expect(JSON.parse(String(err.body))).toMatchObject({
        kind: 'Status',
        reason: 'TooManyRequests',
        code: 429
      });
    }
    await custom.createNamespacedCustomObject({ ...WF, namespace: cluster.namespace, body });
    const posts = cluster.requests.filter(
      r => r.method === 'POST' && r.path.endsWith('/workflows')
    );
    expect(posts.map(r => r.status)).toEqual([429, 429, 201]);
    expect(cluster.list(WF.group, WF.version, WF.plural, cluster.namespace)).toHaveLength(1);
  });

  it('answers 500 InternalError only to matching requests', async () => {
    cluster.faults.next({
      method: 'GET',
      pathIncludes: 'burst-1',
      status: 500,
      reason: 'etcdserver: leader changed'
    });
    const list = (await custom.listNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace
    })) as { items: unknown[] };
    expect(list.items).toHaveLength(1);
    const err = await apiError(() =>
      custom.getNamespacedCustomObject({ ...WF, namespace: cluster.namespace, name: 'burst-1' })
    );
    expect(err.code).toBe(500);
    expect(JSON.parse(String(err.body))).toMatchObject({
      reason: 'InternalError',
      message: 'Internal error occurred: etcdserver: leader changed'
    });
    await expect(
      custom.getNamespacedCustomObject({ ...WF, namespace: cluster.namespace, name: 'burst-1' })
    ).resolves.toBeTruthy();
  });

  it('resets the connection for status 0', async () => {
    cluster.faults.next({ pathIncludes: 'burst-1', status: 0 });
    await expect(
      custom.getNamespacedCustomObject({ ...WF, namespace: cluster.namespace, name: 'burst-1' })
    ).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect(cluster.requests[cluster.requests.length - 1].status).toBe(0);
  });

  it('slows every response down', async () => {
    cluster.faults.slow(150);
    const started = Date.now();
    await custom.getNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      name: 'burst-1'
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    cluster.faults.clear();
    const again = Date.now();
    await custom.getNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      name: 'burst-1'
    });
    expect(Date.now() - again).toBeLessThan(140);
  });
});
