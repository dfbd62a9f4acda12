/**
 * A Kubernetes API server for the test suite, driven by the real @kubernetes/client-node through a
 * kubeconfig (HTTPS with a throw-away CA when `openssl` is available, plain HTTP otherwise).
 *
 *   const cluster = await startFakeCluster({ controller: { argo: true, snapshots: true } });
 *   const kc = new KubeConfig();
 *   kc.loadFromFile(cluster.kubeconfigPath);
 *   ...
 *   await cluster.close();
 *
 * See README.md next to this file for what it serves and how faithfully.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { stringify } from 'yaml';

import { Controller, IControllerOptions } from './controller.js';
import {
  CORE_TYPES,
  IResourceType,
  JsonObject,
  ResourceRegistry,
  VOLUME_SNAPSHOT_CLASSES,
  VOLUME_SNAPSHOTS,
  WORKFLOWS
} from './resources.js';
import { ApiServer, IForbiddenRule, IRequestRecord, PodLogs } from './server.js';
import { Store, metadataOf, nameOf, namespaceOf } from './store.js';
import { tlsMaterial } from './tls.js';

export type { IControllerOptions } from './controller.js';
export type { IForbiddenRule, IRequestRecord } from './server.js';
export type { IStatus, IStatusCause } from './status.js';
export { argoPodName, fnv32a, quantityBytes } from './controller.js';

export interface IFakeClusterOptions {
  /** The kubeconfig context's namespace, created at start (default 'kubeflow-user'). */
  namespace?: string;
  /** Bearer token the kubeconfig carries; any other gets 401 (default: a random one). */
  token?: string;
  /** RBAC denials -> 403 (resource may be 'pods/log'; '*' matches anything). */
  forbidden?: IForbiddenRule[];
  /** Installed CRDs (all by default); an absent CRD's paths answer 404 and discovery omits it. */
  crds?: { volumeSnapshots?: boolean; workflows?: boolean };
  /** VolumeSnapshotClasses present; the first is marked default. Default ['csi-hostpath-snapclass']; [] none. */
  snapshotClasses?: string[];
  /** Run the test controller (Argo, snapshot controller, PVC binder). Off by default. */
  controller?: IControllerOptions;
}

/** One change of the store, as `observe` reports it. */
export interface IChange {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  resource: string;
  object: JsonObject;
}

export interface IPodLogs {
  set(pod: string, container: string, text: string, namespace?: string): void;
  append(pod: string, container: string, text: string, namespace?: string): void;
  get(pod: string, container: string, namespace?: string): string | undefined;
}

export interface IFakeCluster {
  /** https://127.0.0.1:PORT (or http:// without openssl). */
  url: string;
  /** A kubeconfig file (cluster, CA, user token, context with namespace), removed by close(). */
  kubeconfigPath: string;
  /** Its YAML text. */
  kubeconfig: string;
  namespace: string;
  token: string;
  /** Direct store access, bypassing HTTP, auth and validation. Core group is ''. */
  get(
    group: string,
    version: string,
    resource: string,
    namespace: string,
    name: string
  ): JsonObject | undefined;
  list(group: string, version: string, resource: string, namespace?: string): JsonObject[];
  /** Create or replace (by apiVersion/kind/namespace/name) without validation; bumps resourceVersion, emits watch events. */
  put(obj: JsonObject): JsonObject;
  /** Delete directly (emits DELETED; owned objects are garbage-collected). */
  remove(
    group: string,
    version: string,
    resource: string,
    namespace: string,
    name: string
  ): boolean;
  /** Every HTTP request served, in order. */
  requests: IRequestRecord[];
  podLogs: IPodLogs;
  /** The latest resourceVersion. */
  resourceVersion(): string;
  /**
   * Call `listener` synchronously with every change from now on, in resourceVersion order
   * (`resource` is `group/plural`, core group ''); returns the unsubscribe function.
   */
  observe(listener: (change: IChange) => void): () => void;
  close(): Promise<void>;
}

const DEFAULT_SNAPSHOT_CLASS = 'csi-hostpath-snapclass';

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

export async function startFakeCluster(options: IFakeClusterOptions = {}): Promise<IFakeCluster> {
  const namespace = options.namespace ?? 'kubeflow-user';
  const token = options.token ?? `chard-test-${Math.random().toString(36).slice(2)}`;
  const crds = { volumeSnapshots: true, workflows: true, ...options.crds };
  const types: IResourceType[] = [...CORE_TYPES];
  if (crds.workflows) {
    types.push(WORKFLOWS);
  }
  if (crds.volumeSnapshots) {
    types.push(VOLUME_SNAPSHOTS, VOLUME_SNAPSHOT_CLASSES);
  }
  const registry = new ResourceRegistry(types);
  const store = new Store();
  const podLogs = new PodLogs(namespace);
  const requests: IRequestRecord[] = [];

  const typeOf = (group: string, version: string, resource: string): IResourceType => {
    const type = registry.find(group, version, resource);
    if (!type) {
      throw new Error(`fake cluster: no resource ${resource} in ${group || 'core'}/${version}`);
    }
    return type;
  };

  const nsType = typeOf('', 'v1', 'namespaces');
  for (const ns of new Set(['default', 'kube-system', namespace])) {
    store.create(nsType, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: ns },
      status: { phase: 'Active' }
    });
  }
  const saType = typeOf('', 'v1', 'serviceaccounts');
  store.create(saType, {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'default-editor', namespace }
  });
  if (crds.volumeSnapshots) {
    const classes = options.snapshotClasses ?? [DEFAULT_SNAPSHOT_CLASS];
    classes
      .filter(c => c !== '')
      .forEach((name, i) => {
        store.create(VOLUME_SNAPSHOT_CLASSES, {
          apiVersion: 'snapshot.storage.k8s.io/v1',
          kind: 'VolumeSnapshotClass',
          metadata: {
            name,
            annotations:
              i === 0 ? { 'snapshot.storage.kubernetes.io/is-default-class': 'true' } : {}
          },
          driver: 'hostpath.csi.k8s.io',
          deletionPolicy: 'Delete'
        });
      });
  }

  const tls = tlsMaterial();
  const server = new ApiServer({
    store,
    registry,
    token,
    user: `system:serviceaccount:${namespace}:default-editor`,
    forbidden: options.forbidden ?? [],
    podLogs,
    requests,
    tls
  });
  const url = await server.listen();

  const dir = mkdtempSync(join(tmpdir(), 'chard-fake-kube-'));
  const kubeconfigPath = join(dir, 'kubeconfig');
  const cluster: JsonObject = { server: url };
  if (tls) {
    cluster['certificate-authority-data'] = Buffer.from(tls.ca, 'utf8').toString('base64');
  }
  const kubeconfig = stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'chard-fake', cluster }],
    users: [{ name: 'chard-fake-user', user: { token } }],
    contexts: [
      { name: 'chard-fake', context: { cluster: 'chard-fake', user: 'chard-fake-user', namespace } }
    ],
    'current-context': 'chard-fake',
    preferences: {}
  });
  writeAtomic(kubeconfigPath, kubeconfig);

  let controller: Controller | undefined;
  if (options.controller && (options.controller.argo || options.controller.snapshots)) {
    controller = new Controller(store, registry, podLogs, options.controller);
    controller.start();
  }

  return {
    url,
    kubeconfigPath,
    kubeconfig,
    namespace,
    token,
    get: (group, version, resource, ns, name) =>
      store.get(typeOf(group, version, resource), ns, name),
    list: (group, version, resource, ns) => store.list(typeOf(group, version, resource), ns),
    put: (obj: JsonObject) => {
      const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : '';
      const kind = typeof obj.kind === 'string' ? obj.kind : '';
      const type = registry.byKind(apiVersion, kind);
      if (!type) {
        throw new Error(`fake cluster: no resource for ${apiVersion} ${kind}`);
      }
      const copy = structuredClone(obj);
      const meta = metadataOf(copy);
      if (type.namespaced && (meta.namespace === undefined || meta.namespace === '')) {
        meta.namespace = namespace;
      }
      const existing = store.get(type, namespaceOf(copy), nameOf(copy));
      return existing ? store.update(type, copy) : store.create(type, copy);
    },
    remove: (group, version, resource, ns, name) =>
      store.remove(typeOf(group, version, resource), ns, name) !== undefined,
    requests,
    podLogs,
    resourceVersion: () => String(store.resourceVersion),
    observe: listener =>
      store.subscribe(e => listener({ rv: e.rv, type: e.type, resource: e.key, object: e.object })),
    close: async () => {
      controller?.stop();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** Poll `probe` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function waitFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 5000
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`condition not met within ${timeoutMs} ms`);
    }
    await new Promise(resolve => setTimeout(resolve, 10));
  }
}
