/**
 * The small interface the rest of Chard uses to talk to Kubernetes, and its implementation on
 * @kubernetes/client-node 1.4.x. This is the one place that times out, retries and turns
 * failures into one-line messages; every call is recorded as (verb, resource) so the RBAC
 * role can be checked against what the code does.
 */
import type { IOwnerReference } from '../../core/compile/options.js';
import { isRecord } from '../../core/notebook.js';
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  Observable,
  Watch,
  type ConfigurationOptions,
  type KubeConfig,
  type RequestContext,
  type ResponseContext
} from '@kubernetes/client-node';
import type { IKubeOperation, KubeVerb } from './errors.js';
import { failureOf, httpError, KubeApiError, notInstalledError, transportError } from './errors.js';
import type { IRetryPolicy } from '../common/retry.js';
import { DEFAULT_RETRY, withRetry } from '../common/retry.js';

/** A Kubernetes resource type. `group` '' is the core API. */
export interface IResource {
  group: string;
  version: string;
  plural: string;
  kind: string;
}

export const WORKFLOWS: IResource = {
  group: 'argoproj.io',
  version: 'v1alpha1',
  plural: 'workflows',
  kind: 'Workflow'
};
export const VOLUME_SNAPSHOTS: IResource = {
  group: 'snapshot.storage.k8s.io',
  version: 'v1',
  plural: 'volumesnapshots',
  kind: 'VolumeSnapshot'
};
export const PVCS: IResource = {
  group: '',
  version: 'v1',
  plural: 'persistentvolumeclaims',
  kind: 'PersistentVolumeClaim'
};
export const PODS: IResource = { group: '', version: 'v1', plural: 'pods', kind: 'Pod' };

/** `plural.group` as RBAC and messages name it. */
export function resourceName(resource: IResource): string {
  return resource.group ? `${resource.plural}.${resource.group}` : resource.plural;
}

export function apiVersionOf(resource: IResource): string {
  return resource.group ? `${resource.group}/${resource.version}` : resource.version;
}

export interface IObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: IOwnerReference[];
  [key: string]: unknown;
}

/** Any Kubernetes object as plain JSON. */
export interface IKubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: IObjectMeta;
  spec?: unknown;
  status?: unknown;
  [key: string]: unknown;
}

export interface IListResult {
  items: IKubeObject[];
  resourceVersion: string;
}

export interface ISelector {
  labelSelector?: string;
  fieldSelector?: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface IWatchEvent {
  type: WatchEventType;
  object: IKubeObject;
}

/** How a watch ended: closed by the server, expired (410: relist), or failed. */
export type WatchEnd =
  { kind: 'closed' } | { kind: 'expired' } | { kind: 'error'; error: KubeApiError };

export interface IWatchHandle {
  done: Promise<WatchEnd>;
  stop(): void;
}

export interface IKubeClient {
  readonly namespace: string;
  get(resource: IResource, name: string): Promise<IKubeObject>;
  list(resource: IResource, selector?: ISelector): Promise<IListResult>;
  create(resource: IResource, body: IKubeObject): Promise<IKubeObject>;
  /** JSON merge patch (RFC 7386). */
  patch(resource: IResource, name: string, patch: Record<string, unknown>): Promise<IKubeObject>;
  delete(resource: IResource, name: string): Promise<void>;
  /** Watch from `resourceVersion`; events arrive through `onEvent` until `done` resolves. */
  watch(
    resource: IResource,
    options: ISelector & { resourceVersion: string; timeoutSeconds?: number },
    onEvent: (event: IWatchEvent) => void
  ): IWatchHandle;
  /** The log of one container of a pod. */
  podLog(pod: string, container: string): Promise<string>;
}

export namespace KubeClient {
  export interface IOptions {
    retry?: Partial<IRetryPolicy>;
    /** Called before each retry (progress messages). */
    onRetry?: (message: string) => void;
    /** Called for every request actually sent (verb + resource), for audits and tests. */
    onRequest?: (op: IKubeOperation) => void;
    /** Called with each warning the API server sends (`Warning` headers), once per text. */
    onWarning?: (message: string) => void;
  }
}

/** A client for one namespace of the cluster `kubeConfig` points at. */
export function createKubeClient(
  kubeConfig: KubeConfig,
  namespace: string,
  options: KubeClient.IOptions = {}
): IKubeClient {
  return new Private.Client(kubeConfig, namespace, options);
}

namespace Private {
  type Middleware = {
    pre: (context: RequestContext) => Observable<RequestContext>;
    post: (context: ResponseContext) => Observable<ResponseContext>;
  };

  /** Generated core models are class instances with Dates: turn them into plain JSON. */
  function plain(value: unknown): IKubeObject {
    const data: unknown = JSON.parse(JSON.stringify(value ?? {}));
    return isRecord(data) ? (data as IKubeObject) : {};
  }

  export class Client implements IKubeClient {
    readonly namespace: string;
    private readonly _kc: KubeConfig;
    private readonly _core: CoreV1Api;
    private readonly _custom: CustomObjectsApi;
    private readonly _policy: IRetryPolicy;
    private readonly _options: KubeClient.IOptions;
    private readonly _warned = new Set<string>();

    constructor(kc: KubeConfig, namespace: string, options: KubeClient.IOptions) {
      this._kc = kc;
      this.namespace = namespace;
      this._core = kc.makeApiClient(CoreV1Api);
      this._custom = kc.makeApiClient(CustomObjectsApi);
      this._policy = { ...DEFAULT_RETRY, ...options.retry };
      this._options = options;
    }

    private _op(verb: KubeVerb, resource: IResource | string, name?: string): IKubeOperation {
      const res = typeof resource === 'string' ? resource : resourceName(resource);
      return { verb, resource: res, namespace: this.namespace, name };
    }

    /** Per-request options: a time-out signal, plus an optional header. */
    private _config(header?: [string, string]): ConfigurationOptions {
      const timeoutMs = this._policy.timeoutMs;
      const mw: Middleware = {
        pre: context => {
          context.setSignal(AbortSignal.timeout(timeoutMs));
          if (header) {
            context.setHeaderParam(header[0], header[1]);
          }
          return new Observable(Promise.resolve(context));
        },
        post: context => {
          this._warn(context.headers['warning']);
          return new Observable(Promise.resolve(context));
        }
      };
      // The object-parameter API passes options through `wrapOptions`, which expects
      // promise middleware at run time although its declaration says observable middleware.
      return {
        middleware: [mw],
        middlewareMergeStrategy: 'append'
      } as unknown as ConfigurationOptions;
    }

    /** Report the server's `Warning` headers (RFC 7234: `299 - "text"`, comma-separated). */
    private _warn(header: string | undefined): void {
      if (!header || !this._options.onWarning) {
        return;
      }
      for (const match of header.matchAll(/\d{3} \S+ "((?:[^"\\]|\\.)*)"/g)) {
        const text = match[1].replace(/\\(.)/g, '$1');
        if (!this._warned.has(text)) {
          this._warned.add(text);
          this._options.onWarning(text);
        }
      }
    }

    /**
     * The one place every call goes through. A 404 without a `Status` body for a custom
     * `resource` is what a real API server answers for a resource it does not serve: discovery
     * tells "not installed" from "no such object".
     */
    private async _call<T>(
      op: IKubeOperation,
      fn: () => Promise<T>,
      resource?: IResource
    ): Promise<T> {
      try {
        return await this._retried(op, fn);
      } catch (error) {
        if (
          resource?.group &&
          error instanceof KubeApiError &&
          error.status === 404 &&
          error.reason === null &&
          !(await this._serves(resource))
        ) {
          throw notInstalledError(op, resource.group, resource.version, resource.plural);
        }
        throw error;
      }
    }

    /** Whether the server serves `resource` (discovery of its group/version). */
    private async _serves(resource: IResource): Promise<boolean> {
      try {
        const list = await this._custom.getAPIResources(
          { group: resource.group, version: resource.version },
          this._config()
        );
        return (list.resources ?? []).some(r => r.name === resource.plural);
      } catch (error) {
        if (error instanceof ApiException && error.code === 404) {
          return false;
        }
        // Discovery itself failed: do not guess.
        return true;
      }
    }

    private async _retried<T>(op: IKubeOperation, fn: () => Promise<T>): Promise<T> {
      return withRetry(
        async () => {
          this._options.onRequest?.(op);
          try {
            return await fn();
          } catch (error) {
            throw toKubeError(op, error);
          }
        },
        failureOf,
        this._policy,
        (failure, attempt, delay) =>
          this._options.onRetry?.(
            `${op.verb} ${op.resource}: ${failure.status ?? failure.code ?? 'error'}, ` +
              `retrying in ${(delay / 1000).toFixed(1)}s (attempt ${attempt + 1} of ${this._policy.attempts})`
          )
      );
    }

    async get(resource: IResource, name: string): Promise<IKubeObject> {
      const op = this._op('get', resource, name);
      const namespace = this.namespace;
      if (!resource.group) {
        if (resource.plural === 'pods') {
          return plain(
            await this._call(op, () =>
              this._core.readNamespacedPod({ name, namespace }, this._config())
            )
          );
        }
        if (resource.plural === 'persistentvolumeclaims') {
          return plain(
            await this._call(op, () =>
              this._core.readNamespacedPersistentVolumeClaim({ name, namespace }, this._config())
            )
          );
        }
        throw new Error(`unsupported core resource ${resource.plural}`);
      }
      return plain(
        await this._call(
          op,
          () =>
            this._custom.getNamespacedCustomObject(
              {
                group: resource.group,
                version: resource.version,
                namespace,
                plural: resource.plural,
                name
              },
              this._config()
            ),
          resource
        )
      );
    }

    async list(resource: IResource, selector: ISelector = {}): Promise<IListResult> {
      const op = this._op('list', resource);
      const namespace = this.namespace;
      let result: unknown;
      if (!resource.group) {
        if (resource.plural !== 'pods') {
          throw new Error(`unsupported core list ${resource.plural}`);
        }
        result = await this._call(op, () =>
          this._core.listNamespacedPod({ namespace, ...selector }, this._config())
        );
      } else {
        result = await this._call(
          op,
          () =>
            this._custom.listNamespacedCustomObject(
              {
                group: resource.group,
                version: resource.version,
                namespace,
                plural: resource.plural,
                ...selector
              },
              this._config()
            ),
          resource
        );
      }
      const data = plain(result);
      const items = Array.isArray(data.items) ? data.items.filter(isRecord) : [];
      const meta = isRecord(data.metadata) ? data.metadata : {};
      return {
        items: items as IKubeObject[],
        resourceVersion: typeof meta.resourceVersion === 'string' ? meta.resourceVersion : ''
      };
    }

    async create(resource: IResource, body: IKubeObject): Promise<IKubeObject> {
      const op = this._op('create', resource, body.metadata?.name);
      const namespace = this.namespace;
      const full = { apiVersion: apiVersionOf(resource), kind: resource.kind, ...body };
      if (!resource.group) {
        if (resource.plural !== 'persistentvolumeclaims') {
          throw new Error(`unsupported core create ${resource.plural}`);
        }
        return plain(
          await this._call(op, () =>
            this._core.createNamespacedPersistentVolumeClaim(
              { namespace, body: full as never },
              this._config()
            )
          )
        );
      }
      return plain(
        await this._call(
          op,
          () =>
            this._custom.createNamespacedCustomObject(
              {
                group: resource.group,
                version: resource.version,
                namespace,
                plural: resource.plural,
                body: full,
                // Unknown fields are an error, not silently pruned.
                fieldValidation: 'Strict'
              },
              this._config()
            ),
          resource
        )
      );
    }

    async patch(
      resource: IResource,
      name: string,
      patch: Record<string, unknown>
    ): Promise<IKubeObject> {
      const op = this._op('patch', resource, name);
      if (!resource.group) {
        throw new Error(`unsupported core patch ${resource.plural}`);
      }
      return plain(
        await this._call(
          op,
          () =>
            this._custom.patchNamespacedCustomObject(
              {
                group: resource.group,
                version: resource.version,
                namespace: this.namespace,
                plural: resource.plural,
                name,
                body: patch
              },
              this._config(['Content-Type', PatchStrategy.MergePatch])
            ),
          resource
        )
      );
    }

    async delete(resource: IResource, name: string): Promise<void> {
      const op = this._op('delete', resource, name);
      const namespace = this.namespace;
      if (!resource.group) {
        if (resource.plural !== 'persistentvolumeclaims') {
          throw new Error(`unsupported core delete ${resource.plural}`);
        }
        await this._call(op, () =>
          this._core.deleteNamespacedPersistentVolumeClaim({ name, namespace }, this._config())
        );
        return;
      }
      await this._call(
        op,
        () =>
          this._custom.deleteNamespacedCustomObject(
            {
              group: resource.group,
              version: resource.version,
              namespace,
              plural: resource.plural,
              name
            },
            this._config()
          ),
        resource
      );
    }

    async podLog(pod: string, container: string): Promise<string> {
      const op = this._op('get', 'pods/log', pod);
      const text = await this._call(op, () =>
        this._core.readNamespacedPodLog(
          { name: pod, namespace: this.namespace, container },
          this._config()
        )
      );
      return typeof text === 'string' ? text : String(text ?? '');
    }

    watch(
      resource: IResource,
      options: ISelector & { resourceVersion: string; timeoutSeconds?: number },
      onEvent: (event: IWatchEvent) => void
    ): IWatchHandle {
      const op = this._op('watch', resource);
      const base = resource.group
        ? `/apis/${resource.group}/${resource.version}`
        : `/api/${resource.version}`;
      const path = `${base}/namespaces/${encodeURIComponent(this.namespace)}/${resource.plural}`;
      const watcher = new Watch(this._kc);
      let controller: AbortController | null = null;
      let stopped = false;
      let expired = false;
      let settle: (end: WatchEnd) => void = () => undefined;
      const done = new Promise<WatchEnd>(resolve => {
        settle = resolve;
      });
      this._options.onRequest?.(op);
      watcher
        .watch(
          path,
          {
            resourceVersion: options.resourceVersion,
            labelSelector: options.labelSelector,
            fieldSelector: options.fieldSelector,
            timeoutSeconds: options.timeoutSeconds,
            allowWatchBookmarks: true
          },
          (type: string, object: unknown) => {
            if (stopped) {
              return;
            }
            const obj = isRecord(object) ? (object as IKubeObject) : {};
            if (type === 'ERROR') {
              // The server reports an expired resourceVersion inside the stream as a Status.
              const code = typeof obj.code === 'number' ? obj.code : 0;
              if (code === 410) {
                expired = true;
              }
              controller?.abort();
              return;
            }
            onEvent({ type: type as WatchEventType, object: obj });
          },
          (err: unknown) => {
            if (stopped) {
              settle({ kind: 'closed' });
            } else if (expired) {
              settle({ kind: 'expired' });
            } else if (err === null || err === undefined) {
              settle({ kind: 'closed' });
            } else if (isRecord(err) && typeof err.statusCode === 'number') {
              settle(
                err.statusCode === 410
                  ? { kind: 'expired' }
                  : { kind: 'error', error: httpError(op, err.statusCode, undefined) }
              );
            } else if (isRecord(err) && err.name === 'AbortError') {
              settle({ kind: 'closed' });
            } else {
              settle({ kind: 'error', error: transportError(op, err) });
            }
          }
        )
        .then(
          c => {
            controller = c;
            if (stopped) {
              c.abort();
            }
          },
          (err: unknown) => settle({ kind: 'error', error: transportError(op, err) })
        );
      return {
        done,
        stop: () => {
          stopped = true;
          controller?.abort();
          settle({ kind: 'closed' });
        }
      };
    }
  }

  export function toKubeError(op: IKubeOperation, error: unknown): KubeApiError {
    if (error instanceof KubeApiError) {
      return error;
    }
    if (error instanceof ApiException) {
      const headers = isRecord(error.headers) ? (error.headers as Record<string, string>) : {};
      return httpError(op, error.code, error.body, headers);
    }
    return transportError(op, error);
  }
}
