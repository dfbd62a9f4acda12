/**
 * list+watch on the test API server through client-node's Watch: order, resourceVersions, resume from
 * a resourceVersion, label-filtered watches. (410 Expired and dropped streams are the fault proxy's,
 * on the real API server: tests/cluster/faults.spec.ts.)
 */
import {
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  Watch,
  setHeaderOptions
} from '@kubernetes/client-node';

import { IFakeCluster, startFakeCluster } from '../../support/kube/index.js';
import { waitFor, workflow } from './manifests.js';

const WF = { group: 'argoproj.io', version: 'v1alpha1', plural: 'workflows' };

interface IEvent {
  type: string;
  name: string;
  rv: number;
  object: Record<string, unknown>;
}

interface IWatching {
  events: IEvent[];
  done: Promise<unknown>;
  abort(): void;
}

async function watch(
  kc: KubeConfig,
  path: string,
  query: Record<string, string>
): Promise<IWatching> {
  const events: IEvent[] = [];
  let finish: (err: unknown) => void = () => undefined;
  const done = new Promise<unknown>(resolve => {
    finish = resolve;
  });
  const controller = await new Watch(kc).watch(
    path,
    query,
    (type: string, object: Record<string, unknown>) => {
      const meta = (object.metadata ?? {}) as { name?: string; resourceVersion?: string };
      events.push({ type, name: meta.name ?? '', rv: Number(meta.resourceVersion ?? 0), object });
    },
    (err: unknown) => finish(err ?? null)
  );
  return { events, done, abort: () => controller.abort() };
}

describe('fake cluster: watch', () => {
  let cluster: IFakeCluster;
  let kc: KubeConfig;
  let custom: CustomObjectsApi;
  let path: string;

  beforeAll(async () => {
    cluster = await startFakeCluster();
    kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    custom = kc.makeApiClient(CustomObjectsApi);
    path = `/apis/argoproj.io/v1alpha1/namespaces/${cluster.namespace}/workflows`;
  });
  afterAll(() => cluster.close());

  it('streams ADDED, MODIFIED, DELETED in order with increasing resourceVersions from the listed version', async () => {
    await custom.createNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      body: workflow('before-list')
    });
    const list = (await custom.listNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace
    })) as {
      metadata: { resourceVersion: string };
    };
    const w = await watch(kc, path, { resourceVersion: list.metadata.resourceVersion });
    await custom.createNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      body: workflow('watched')
    });
    await custom.patchNamespacedCustomObject(
      {
        ...WF,
        namespace: cluster.namespace,
        name: 'watched',
        body: { spec: { shutdown: 'Terminate' } }
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch)
    );
    await custom.deleteNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      name: 'watched'
    });
    await waitFor(() => (w.events.length >= 3 ? true : undefined));
    w.abort();
    expect(w.events.map(e => `${e.type} ${e.name}`)).toEqual([
      'ADDED watched',
      'MODIFIED watched',
      'DELETED watched'
    ]);
    const rvs = w.events.map(e => e.rv);
    expect(rvs[0]).toBeGreaterThan(Number(list.metadata.resourceVersion));
    expect(rvs[1]).toBeGreaterThan(rvs[0]);
    expect(rvs[2]).toBeGreaterThan(rvs[1]);
  });

  it('replays what happened after the given resourceVersion, so a reconnect misses nothing', async () => {
    const created = (await custom.createNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      body: workflow('resume-1')
    })) as { metadata: { resourceVersion: string } };
    await custom.patchNamespacedCustomObject(
      {
        ...WF,
        namespace: cluster.namespace,
        name: 'resume-1',
        body: { metadata: { labels: { step: '2' } } }
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch)
    );
    const w = await watch(kc, path, { resourceVersion: created.metadata.resourceVersion });
    await waitFor(() => (w.events.length >= 1 ? true : undefined));
    w.abort();
    expect(w.events[0]).toMatchObject({ type: 'MODIFIED', name: 'resume-1' });
    expect((w.events[0].object.metadata as { labels: Record<string, string> }).labels.step).toBe(
      '2'
    );
  });

  it('sends ADDED for existing objects when no resourceVersion is given, filtered by label', async () => {
    await custom.createNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      body: workflow('labelled', { labels: { 'chard.dev/run': 'watch-me' } })
    });
    const w = await watch(kc, path, { labelSelector: 'chard.dev/run=watch-me' });
    await waitFor(() => (w.events.length >= 1 ? true : undefined));
    // A label change that leaves the selector is seen as DELETED by this watch.
    await custom.patchNamespacedCustomObject(
      {
        ...WF,
        namespace: cluster.namespace,
        name: 'labelled',
        body: { metadata: { labels: { 'chard.dev/run': 'other' } } }
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch)
    );
    await waitFor(() => (w.events.length >= 2 ? true : undefined));
    w.abort();
    expect(w.events.map(e => `${e.type} ${e.name}`)).toEqual([
      'ADDED labelled',
      'DELETED labelled'
    ]);
  });
});
