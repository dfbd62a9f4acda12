/**
 * The test API server driven by the real @kubernetes/client-node 1.4: CRUD, patch, status
 * subresource, Status error bodies, auth, RBAC, discovery, garbage collection.
 */
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions
} from '@kubernetes/client-node';

import { IFakeCluster, startFakeCluster } from '../../support/kube/index.js';
import { pvc, volumeSnapshot, waitFor, workflow } from './manifests.js';

const WF = { group: 'argoproj.io', version: 'v1alpha1', plural: 'workflows' };
const VS = { group: 'snapshot.storage.k8s.io', version: 'v1', plural: 'volumesnapshots' };

function client(cluster: IFakeCluster): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  return kc;
}

interface IStatusBody {
  kind: string;
  apiVersion: string;
  status: string;
  reason: string;
  message: string;
  code: number;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    causes?: Array<{ field?: string; message: string; reason?: string }>;
  };
}

/** Run `fn`, expect an ApiException, return its code and parsed Status body. */
async function failure(fn: () => Promise<unknown>): Promise<{ code: number; body: IStatusBody }> {
  try {
    await fn();
  } catch (err) {
    if (!(err instanceof ApiException)) {
      throw err;
    }
    const raw: unknown = err.body;
    const body = (typeof raw === 'string' ? JSON.parse(raw) : raw) as IStatusBody;
    return { code: err.code, body };
  }
  throw new Error('expected the call to fail');
}

describe('fake cluster: CRUD through client-node', () => {
  let cluster: IFakeCluster;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;

  beforeAll(async () => {
    cluster = await startFakeCluster();
    const kc = client(cluster);
    custom = kc.makeApiClient(CustomObjectsApi);
    core = kc.makeApiClient(CoreV1Api);
  });
  afterAll(() => cluster.close());

  it('serves HTTPS with the CA from the kubeconfig and the context namespace', () => {
    expect(cluster.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const kc = client(cluster);
    expect(kc.getCurrentCluster()?.caData).toBeTruthy();
    expect(kc.getContextObject(kc.getCurrentContext())?.namespace).toBe('kubeflow-user');
  });

  it('creates, gets, lists by label and deletes a Workflow', async () => {
    const created = (await custom.createNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      body: workflow('titanic-a1b2c3-1', { labels: { 'chard.dev/run': 'r1' } })
    })) as {
      metadata: {
        uid: string;
        resourceVersion: string;
        creationTimestamp: string;
        generation: number;
      };
    };
    expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(created.metadata.resourceVersion)).toBeGreaterThan(0);
    expect(created.metadata.generation).toBe(1);
    expect(created.metadata.creationTimestamp).toMatch(/Z$/);

    await custom.createNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      body: workflow('other-1', { labels: { 'chard.dev/run': 'r2' } })
    });
    const got = (await custom.getNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      name: 'titanic-a1b2c3-1'
    })) as { metadata: { uid: string } };
    expect(got.metadata.uid).toBe(created.metadata.uid);

    const list = (await custom.listNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      labelSelector: 'chard.dev/run=r1'
    })) as {
      kind: string;
      metadata: { resourceVersion: string };
      items: Array<{ metadata: { name: string } }>;
    };
    expect(list.kind).toBe('WorkflowList');
    expect(list.items.map(i => i.metadata.name)).toEqual(['titanic-a1b2c3-1']);
    expect(Number(list.metadata.resourceVersion)).toBeGreaterThanOrEqual(
      Number(created.metadata.resourceVersion)
    );

    const notIn = (await custom.listNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      labelSelector: 'chard.dev/run notin (r1),chard.dev/notebook'
    })) as { items: Array<{ metadata: { name: string } }> };
    expect(notIn.items.map(i => i.metadata.name)).toEqual(['other-1']);

    const deleted = (await custom.deleteNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      name: 'other-1'
    })) as { kind: string; status: string; details: { name: string } };
    expect(deleted).toMatchObject({
      kind: 'Status',
      status: 'Success',
      details: { name: 'other-1' }
    });
    expect(
      cluster.get('argoproj.io', 'v1alpha1', 'workflows', cluster.namespace, 'other-1')
    ).toBeUndefined();
  });

  it('answers 404 NotFound and 409 AlreadyExists with Status bodies', async () => {
    const missing = await failure(() =>
      custom.getNamespacedCustomObject({ ...WF, namespace: cluster.namespace, name: 'nope' })
    );
    expect(missing.code).toBe(404);
    expect(missing.body).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'NotFound',
      message: 'workflows.argoproj.io "nope" not found',
      details: { name: 'nope', group: 'argoproj.io', kind: 'workflows' },
      code: 404
    });

    await custom.createNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      body: workflow('dup-1')
    });
    const dup = await failure(() =>
      custom.createNamespacedCustomObject({
        ...WF,
        namespace: cluster.namespace,
        body: workflow('dup-1')
      })
    );
    expect(dup.code).toBe(409);
    expect(dup.body.reason).toBe('AlreadyExists');
    expect(dup.body.message).toBe('workflows.argoproj.io "dup-1" already exists');
  });

  it('rejects an invalid Workflow with 422 and one cause per field', async () => {
    const bad = workflow('bad-1');
    const templates = (bad.spec as { templates: Array<Record<string, unknown>> }).templates;
    (templates[0].dag as { tasks: Array<Record<string, unknown>> }).tasks[1].dependencies = 'load';
    (templates[2].container as Record<string, unknown>).image = 42;
    const res = await failure(() =>
      custom.createNamespacedCustomObject({ ...WF, namespace: cluster.namespace, body: bad })
    );
    expect(res.code).toBe(422);
    expect(res.body.reason).toBe('Invalid');
    expect(res.body.details?.kind).toBe('Workflow');
    const fields = (res.body.details?.causes ?? []).map(c => c.field);
    expect(fields).toEqual(
      expect.arrayContaining([
        'spec.templates[0].dag.tasks[1].dependencies',
        'spec.templates[2].container.image'
      ])
    );
    const typeCause = res.body.details?.causes?.find(
      c => c.field === 'spec.templates[0].dag.tasks[1].dependencies'
    );
    expect(typeCause?.message).toContain('must be of type array');
    expect(res.body.message).toMatch(/^Workflow\.argoproj\.io "bad-1" is invalid: \[/);
    expect(
      cluster.get('argoproj.io', 'v1alpha1', 'workflows', cluster.namespace, 'bad-1')
    ).toBeUndefined();
  });

  it('rejects names that are not DNS-1123 subdomains and label values over 63 characters', async () => {
    const res = await failure(() =>
      custom.createNamespacedCustomObject({
        ...WF,
        namespace: cluster.namespace,
        body: workflow('Titanic_Run')
      })
    );
    expect(res.code).toBe(422);
    expect(res.body.details?.causes?.[0]).toMatchObject({
      field: 'metadata.name',
      reason: 'FieldValueInvalid'
    });
    const long = await failure(() =>
      custom.createNamespacedCustomObject({
        ...WF,
        namespace: cluster.namespace,
        body: workflow('ok-name', { labels: { 'chard.dev/notebook': 'x'.repeat(64) } })
      })
    );
    expect(long.code).toBe(422);
    expect(long.body.details?.causes?.[0].message).toContain('must be no more than 63 characters');
  });

  it('validates VolumeSnapshots against the project schema and prunes unknown fields', async () => {
    const both = volumeSnapshot('vs-bad', 'workspace');
    (both.spec as { source: Record<string, string> }).source.volumeSnapshotContentName = 'content';
    const res = await failure(() =>
      custom.createNamespacedCustomObject({ ...VS, namespace: cluster.namespace, body: both })
    );
    expect(res.code).toBe(422);
    expect(res.body.details?.causes).toEqual([
      expect.objectContaining({
        field: 'spec.source',
        message: expect.stringContaining(
          'exactly one of volumeSnapshotContentName and persistentVolumeClaimName'
        )
      })
    ]);
    const empty = await failure(() =>
      custom.createNamespacedCustomObject({
        ...VS,
        namespace: cluster.namespace,
        body: volumeSnapshot('vs-empty', 'workspace', '')
      })
    );
    expect(empty.body.details?.causes?.[0].field).toBe('spec.volumeSnapshotClassName');

    const extra = volumeSnapshot('vs-ok', 'workspace');
    (extra.spec as Record<string, unknown>).unknownField = 'dropped';
    const created = (await custom.createNamespacedCustomObject({
      ...VS,
      namespace: cluster.namespace,
      body: extra
    })) as {
      spec: Record<string, unknown>;
    };
    expect(created.spec.unknownField).toBeUndefined();
  });

  it('keeps status out of reach of the main resource when the CRD has a status subresource', async () => {
    const body = volumeSnapshot('vs-status', 'workspace');
    body.status = { readyToUse: true };
    const created = (await custom.createNamespacedCustomObject({
      ...VS,
      namespace: cluster.namespace,
      body
    })) as {
      status?: unknown;
    };
    expect(created.status).toBeUndefined();
    const patched = (await custom.patchNamespacedCustomObject(
      {
        ...VS,
        namespace: cluster.namespace,
        name: 'vs-status',
        body: { status: { readyToUse: true } }
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch)
    )) as { status?: unknown; metadata: { generation: number } };
    expect(patched.status).toBeUndefined();
    const viaStatus = (await custom.patchNamespacedCustomObjectStatus(
      {
        ...VS,
        namespace: cluster.namespace,
        name: 'vs-status',
        body: { status: { readyToUse: true, restoreSize: '5Gi' } }
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch)
    )) as { status: { readyToUse: boolean }; metadata: { generation: number } };
    expect(viaStatus.status.readyToUse).toBe(true);
    expect(viaStatus.metadata.generation).toBe(1);
  });

  it('applies merge and JSON patches, bumps generation on spec changes, 415 on strategic merge for CRDs', async () => {
    await custom.createNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      body: workflow('patch-me')
    });
    const merged = (await custom.patchNamespacedCustomObject(
      {
        ...WF,
        namespace: cluster.namespace,
        name: 'patch-me',
        body: { spec: { shutdown: 'Terminate' } }
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch)
    )) as { spec: { shutdown: string; entrypoint: string }; metadata: { generation: number } };
    expect(merged.spec).toMatchObject({ shutdown: 'Terminate', entrypoint: 'pipeline' });
    expect(merged.metadata.generation).toBe(2);

    // client-node's default patch type for custom objects is JSON patch.
    const jsonPatched = (await custom.patchNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      name: 'patch-me',
      body: [{ op: 'replace', path: '/spec/shutdown', value: 'Stop' }]
    })) as { spec: { shutdown: string } };
    expect(jsonPatched.spec.shutdown).toBe('Stop');

    const strategic = await failure(() =>
      custom.patchNamespacedCustomObject(
        {
          ...WF,
          namespace: cluster.namespace,
          name: 'patch-me',
          body: { spec: { shutdown: 'Terminate' } }
        },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch)
      )
    );
    expect(strategic.code).toBe(415);
    expect(strategic.body.reason).toBe('UnsupportedMediaType');
  });

  it('answers 409 Conflict to an update with a stale resourceVersion', async () => {
    const created = (await custom.createNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      body: workflow('replace-me')
    })) as { metadata: { resourceVersion: string } } & Record<string, unknown>;
    const first = structuredClone(created);
    (first.metadata as Record<string, unknown>).labels = { a: '1' };
    await custom.replaceNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      name: 'replace-me',
      body: first
    });
    const stale = structuredClone(created);
    (stale.metadata as Record<string, unknown>).labels = { a: '2' };
    const res = await failure(() =>
      custom.replaceNamespacedCustomObject({
        ...WF,
        namespace: cluster.namespace,
        name: 'replace-me',
        body: stale
      })
    );
    expect(res.code).toBe(409);
    expect(res.body.reason).toBe('Conflict');
    expect(res.body.message).toContain('the object has been modified');
  });

  it('creates core objects: PVC defaults, generateName, namespace checks', async () => {
    const created = await core.createNamespacedPersistentVolumeClaim({
      namespace: cluster.namespace,
      body: { metadata: { generateName: 'chard-restore-' }, spec: pvc('x').spec }
    });
    expect(created.metadata?.name).toMatch(/^chard-restore-[a-z0-9]{5}$/);
    expect(created.status?.phase).toBe('Pending');
    const noNs = await failure(() =>
      core.createNamespacedPersistentVolumeClaim({ namespace: 'missing-ns', body: pvc('p1') })
    );
    expect(noNs.code).toBe(404);
    expect(noNs.body.message).toBe('namespaces "missing-ns" not found');
    const noSize = pvc('p2');
    delete (noSize.spec as Record<string, unknown>).resources;
    const invalid = await failure(() =>
      core.createNamespacedPersistentVolumeClaim({ namespace: cluster.namespace, body: noSize })
    );
    expect(invalid.code).toBe(422);
    expect(invalid.body.details?.causes?.[0]).toMatchObject({
      field: 'spec.resources[storage]',
      message: 'Required value'
    });
  });

  it('resolves plurals through discovery for KubernetesObjectApi', async () => {
    const objects = KubernetesObjectApi.makeApiClient(client(cluster));
    const created = await objects.create(volumeSnapshot('vs-generic', 'workspace'));
    expect(created.metadata?.namespace).toBe(cluster.namespace);
    const read = await objects.read({
      apiVersion: 'snapshot.storage.k8s.io/v1',
      kind: 'VolumeSnapshot',
      metadata: { name: 'vs-generic', namespace: cluster.namespace }
    });
    expect(read.metadata?.uid).toBe(created.metadata?.uid);
    const ns = await objects.read({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: cluster.namespace }
    });
    expect(ns.metadata?.name).toBe(cluster.namespace);
  });

  it('pages a list with limit and continue', async () => {
    for (const name of ['page-a', 'page-b', 'page-c']) {
      await core.createNamespacedConfigMap({
        namespace: cluster.namespace,
        body: { metadata: { name, labels: { page: 'yes' } } }
      });
    }
    const first = await core.listNamespacedConfigMap({
      namespace: cluster.namespace,
      labelSelector: 'page=yes',
      limit: 2
    });
    expect(first.items.map(i => i.metadata?.name)).toEqual(['page-a', 'page-b']);
    expect(first.metadata?._continue).toBeTruthy();
    const rest = await core.listNamespacedConfigMap({
      namespace: cluster.namespace,
      labelSelector: 'page=yes',
      limit: 2,
      _continue: first.metadata?._continue
    });
    expect(rest.items.map(i => i.metadata?.name)).toEqual(['page-c']);
    expect(rest.metadata?._continue).toBeFalsy();
  });

  it('garbage-collects objects owned by a deleted owner', async () => {
    const wf = (await custom.createNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      body: workflow('owner-1')
    })) as { metadata: { uid: string } };
    const owner = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Workflow',
      name: 'owner-1',
      uid: wf.metadata.uid
    };
    const vs = volumeSnapshot('owned-vs', 'workspace');
    vs.metadata.ownerReferences = [owner];
    await custom.createNamespacedCustomObject({ ...VS, namespace: cluster.namespace, body: vs });
    const claim = pvc('owned-pvc', '5Gi', { name: 'owned-vs' });
    claim.metadata.ownerReferences = [owner];
    await core.createNamespacedPersistentVolumeClaim({ namespace: cluster.namespace, body: claim });
    await custom.deleteNamespacedCustomObject({
      ...WF,
      namespace: cluster.namespace,
      name: 'owner-1'
    });
    await waitFor(() =>
      cluster.get('', 'v1', 'persistentvolumeclaims', cluster.namespace, 'owned-pvc') ===
        undefined &&
      cluster.get(VS.group, VS.version, VS.plural, cluster.namespace, 'owned-vs') === undefined
        ? true
        : undefined
    );
  });
});

describe('fake cluster: authentication, RBAC and missing CRDs', () => {
  it('answers 401 to a wrong token and 403 with the refused verb and resource', async () => {
    const cluster = await startFakeCluster({
      forbidden: [{ verb: 'create', group: 'snapshot.storage.k8s.io', resource: 'volumesnapshots' }]
    });
    try {
      const kc = client(cluster);
      const custom = kc.makeApiClient(CustomObjectsApi);
      const denied = await failure(() =>
        custom.createNamespacedCustomObject({
          ...VS,
          namespace: cluster.namespace,
          body: volumeSnapshot('v', 'p')
        })
      );
      expect(denied.code).toBe(403);
      expect(denied.body.reason).toBe('Forbidden');
      expect(denied.body.message).toBe(
        'volumesnapshots.snapshot.storage.k8s.io is forbidden: User "system:serviceaccount:kubeflow-user:default-editor" ' +
          'cannot create resource "volumesnapshots" in API group "snapshot.storage.k8s.io" in the namespace "kubeflow-user"'
      );
      // Other verbs on the same resource are allowed.
      const list = (await custom.listNamespacedCustomObject({
        ...VS,
        namespace: cluster.namespace
      })) as { items: unknown[] };
      expect(list.items).toEqual([]);

      const badKc = new KubeConfig();
      badKc.loadFromString(cluster.kubeconfig.replace(cluster.token, 'wrong-token'));
      const bad = badKc.makeApiClient(CoreV1Api);
      const unauthorized = await failure(() =>
        bad.listNamespacedPod({ namespace: cluster.namespace })
      );
      expect(unauthorized.code).toBe(401);
    } finally {
      await cluster.close();
    }
  });

  it('answers 404 on the paths of a CRD that is not installed and leaves it out of discovery', async () => {
    const cluster = await startFakeCluster({ crds: { volumeSnapshots: false } });
    try {
      const kc = client(cluster);
      const custom = kc.makeApiClient(CustomObjectsApi);
      const res = await failure(() =>
        custom.listNamespacedCustomObject({ ...VS, namespace: cluster.namespace })
      );
      expect(res.code).toBe(404);
      expect(res.body.message).toBe('the server could not find the requested resource');
      const objects = KubernetesObjectApi.makeApiClient(kc);
      await expect(objects.create(volumeSnapshot('v', 'p'))).rejects.toThrow(
        /snapshot\.storage\.k8s\.io\/v1/
      );
    } finally {
      await cluster.close();
    }
  });
});
