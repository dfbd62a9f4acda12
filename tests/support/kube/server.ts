/**
 * The HTTP(S) front of the test API server: authentication (bearer token), RBAC denials, discovery,
 * CRUD + patch + watch on core and custom resources, the status subresource, pods/log, garbage
 * collection of owned objects, and fault injection. Errors are kube `Status` bodies.
 */
import { randomInt } from 'node:crypto';
import {
  IncomingMessage,
  Server,
  ServerResponse,
  createServer as createHttpServer
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { AddressInfo, Socket } from 'node:net';

import { PatchError, jsonPatch, mergePatch } from './patch.js';
import { IResourceType, JsonObject, ResourceRegistry, apiVersionOf, typeKey } from './resources.js';
import { Selector, fieldSelector, labelSelector } from './selectors.js';
import {
  StatusError,
  alreadyExists,
  badRequest,
  conflict,
  failure,
  forbidden,
  internalError,
  invalid,
  methodNotAllowed,
  notFound,
  pathNotFound,
  unauthorized,
  unsupportedMediaType
} from './status.js';
import {
  IStoreEvent,
  Store,
  clone,
  deepEqual,
  metadataOf,
  nameOf,
  namespaceOf,
  timestamp,
  uidOf
} from './store.js';
import { ITlsMaterial } from './tls.js';
import { validateObject } from './validation.js';

export interface IForbiddenRule {
  verb: string;
  group: string;
  resource: string;
}

export interface IRequestRecord {
  method: string;
  /** URL path without the query. */
  path: string;
  /** The query string (with its leading `?`, or ''). */
  query: string;
  /** Response status (0 until answered). */
  status: number;
}

/** Container logs served at /api/v1/namespaces/NS/pods/NAME/log?container=C. */
export class PodLogs {
  private readonly _logs = new Map<string, string>();
  private readonly _defaultNamespace: string;

  constructor(defaultNamespace: string) {
    this._defaultNamespace = defaultNamespace;
  }

  set(pod: string, container: string, text: string, namespace?: string): void {
    this._logs.set(this._key(namespace, pod, container), text);
  }

  append(pod: string, container: string, text: string, namespace?: string): void {
    const key = this._key(namespace, pod, container);
    this._logs.set(key, (this._logs.get(key) ?? '') + text);
  }

  get(pod: string, container: string, namespace?: string): string | undefined {
    return this._logs.get(this._key(namespace, pod, container));
  }

  private _key(namespace: string | undefined, pod: string, container: string): string {
    return `${namespace ?? this._defaultNamespace}/${pod}/${container}`;
  }
}

export interface IApiServerOptions {
  store: Store;
  registry: ResourceRegistry;
  token: string;
  user: string;
  forbidden: IForbiddenRule[];
  podLogs: PodLogs;
  requests: IRequestRecord[];
  tls: ITlsMaterial | null;
}

interface IResourcePath {
  type: IResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
}

interface IResult {
  code: number;
  body: unknown;
  contentType?: string;
}

const STREAMING = Symbol('streaming');

const CORE_FIELD_LABELS: Record<string, string[]> = {
  pods: [
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'spec.serviceAccountName',
    'status.phase',
    'status.podIP'
  ],
  namespaces: ['status.phase'],
  secrets: ['type'],
  persistentvolumeclaims: []
};

const PATCH_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/apply-patch+yaml'
];

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let out = '';
  for (let i = 0; i < 5; i++) {
    out += alphabet[randomInt(alphabet.length)];
  }
  return out;
}

export class ApiServer {
  private readonly _o: IApiServerOptions;
  private readonly _server: Server;
  private readonly _sockets = new Set<Socket>();
  private readonly _watches = new Set<{ end: () => void }>();
  private _gcTimer: NodeJS.Timeout | undefined;
  private _closed = false;
  private readonly _unsubscribe: () => void;

  constructor(options: IApiServerOptions) {
    this._o = options;
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      void this._handle(req, res);
    };
    this._server = options.tls
      ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler)
      : createHttpServer(handler);
    this._server.on('connection', (socket: Socket) => {
      this._sockets.add(socket);
      socket.on('close', () => this._sockets.delete(socket));
    });
    this._unsubscribe = options.store.subscribe(() => this._scheduleGc());
  }

  listen(): Promise<string> {
    return new Promise((resolve, reject) => {
      this._server.once('error', reject);
      this._server.listen(0, '127.0.0.1', () => {
        const { port } = this._server.address() as AddressInfo;
        resolve(`${this._o.tls ? 'https' : 'http'}://127.0.0.1:${port}`);
      });
    });
  }

  async close(): Promise<void> {
    this._closed = true;
    this._unsubscribe();
    if (this._gcTimer) {
      clearTimeout(this._gcTimer);
    }
    for (const w of [...this._watches]) {
      w.end();
    }
    for (const socket of this._sockets) {
      socket.destroy();
    }
    await new Promise<void>(resolve => this._server.close(() => resolve()));
  }

  // ---- garbage collection -------------------------------------------------------------------

  private _scheduleGc(): void {
    if (this._gcTimer || this._closed) {
      return;
    }
    this._gcTimer = setTimeout(() => {
      this._gcTimer = undefined;
      this.collectGarbage();
    }, 5);
  }

  /** Delete every object whose owners (by uid) are all gone, until nothing changes. */
  collectGarbage(): void {
    const { store, registry } = this._o;
    for (;;) {
      const all = store.all();
      const uids = new Set(all.map(e => uidOf(e.object)));
      const orphans = all.filter(e => {
        const refs = metadataOf(e.object).ownerReferences;
        if (!Array.isArray(refs) || refs.length === 0) {
          return false;
        }
        return refs.every(r => !(isObject(r) && typeof r.uid === 'string' && uids.has(r.uid)));
      });
      if (orphans.length === 0) {
        return;
      }
      for (const { key, object } of orphans) {
        const type = registry.types.find(t => typeKey(t.group, t.plural) === key);
        if (type) {
          store.remove(type, namespaceOf(object), nameOf(object));
        }
      }
    }
  }

  // ---- HTTP ---------------------------------------------------------------------------------

  private async _handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toUpperCase();
    const record: IRequestRecord = { method, path: url.pathname, query: url.search, status: 0 };
    this._o.requests.push(record);
    try {
      const body = await readBody(req);
      if (req.headers.authorization !== `Bearer ${this._o.token}`) {
        throw unauthorized();
      }
      const result = await this._route(method, url, body, req, res, record);
      if (result === STREAMING) {
        return;
      }
      this._send(res, record, result.code, result.body, result.contentType);
    } catch (err) {
      const error =
        err instanceof StatusError
          ? err
          : internalError(err instanceof Error ? err.message : String(err));
      this._send(res, record, error.status.code, error.status, undefined, error.headers);
    }
  }

  private _send(
    res: ServerResponse,
    record: IRequestRecord,
    code: number,
    body: unknown,
    contentType = 'application/json',
    headers: Record<string, string> = {}
  ): void {
    record.status = code;
    if (res.headersSent || res.destroyed) {
      return;
    }
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(code, {
      'Content-Type': contentType,
      'Cache-Control': 'no-cache, private',
      ...headers
    });
    res.end(text);
  }

  private async _route(
    method: string,
    url: URL,
    body: string,
    req: IncomingMessage,
    res: ServerResponse,
    record: IRequestRecord
  ): Promise<IResult | typeof STREAMING> {
    const { registry } = this._o;
    const parts = url.pathname
      .split('/')
      .filter(p => p !== '')
      .map(decodeURIComponent);
    if (parts.length === 1 && parts[0] === 'version') {
      return {
        code: 200,
        body: { major: '1', minor: '26', gitVersion: 'v1.26.15', platform: 'linux/amd64' }
      };
    }
    if (parts.length === 1 && parts[0] === 'api') {
      return {
        code: 200,
        body: { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] }
      };
    }
    if (parts.length === 1 && parts[0] === 'apis') {
      const list = registry.apiGroupList();
      (list.groups as JsonObject[]).push({
        name: 'authorization.k8s.io',
        versions: [{ groupVersion: 'authorization.k8s.io/v1', version: 'v1' }],
        preferredVersion: { groupVersion: 'authorization.k8s.io/v1', version: 'v1' }
      });
      return { code: 200, body: list };
    }
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === 'api' && parts.length >= 2) {
      group = '';
      version = parts[1];
      rest = parts.slice(2);
    } else if (parts[0] === 'apis' && parts.length === 2) {
      const apiGroup = registry.apiGroup(parts[1]);
      if (!apiGroup) {
        throw pathNotFound();
      }
      return { code: 200, body: apiGroup };
    } else if (parts[0] === 'apis' && parts.length >= 3) {
      group = parts[1];
      version = parts[2];
      rest = parts.slice(3);
    } else {
      throw pathNotFound();
    }
    if (
      group === 'authorization.k8s.io' &&
      version === 'v1' &&
      rest.length === 1 &&
      rest[0] === 'selfsubjectaccessreviews'
    ) {
      return this._accessReview(method, body);
    }
    if (rest.length === 0) {
      const list = registry.resourceList(group, version);
      if (!list) {
        throw pathNotFound();
      }
      return { code: 200, body: list };
    }
    const path = this._parseResourcePath(group, version, rest);
    const q = url.searchParams;
    const watch = q.get('watch') === 'true' || q.get('watch') === '1';
    const verb = this._verb(method, path, watch);
    this._authorize(verb, path);
    const { type, subresource } = path;
    if (subresource === 'log') {
      if (method !== 'GET') {
        throw methodNotAllowed(method);
      }
      return this._podLog(path, q);
    }
    switch (verb) {
      case 'get':
        return { code: 200, body: this._get(path) };
      case 'list':
        return { code: 200, body: this._list(path, q) };
      case 'watch':
        this._watch(path, q, req, res, record);
        return STREAMING;
      case 'create':
        return { code: 201, body: this._create(path, parseJson(body), q) };
      case 'update':
        return { code: 200, body: this._replace(path, parseJson(body), q) };
      case 'patch':
        return { code: 200, body: this._patch(path, body, req.headers['content-type'] ?? '', q) };
      case 'delete':
        return { code: 200, body: this._delete(path, body, q) };
      case 'deletecollection':
        return { code: 200, body: this._deleteCollection(path, q) };
      default:
        throw methodNotAllowed(`${method} ${type.plural}`);
    }
  }

  private _parseResourcePath(group: string, version: string, rest: string[]): IResourcePath {
    let namespace: string | undefined;
    let tail = rest;
    const namespaceSub =
      rest.length === 3 && group === '' && ['status', 'finalize'].includes(rest[2]);
    if (rest[0] === 'namespaces' && rest.length >= 3 && !namespaceSub) {
      namespace = rest[1];
      tail = rest.slice(2);
    }
    if (tail.length > 3) {
      throw pathNotFound();
    }
    const [plural, name, subresource] = tail;
    const type = this._o.registry.find(group, version, plural);
    if (!type) {
      throw pathNotFound();
    }
    if (namespace !== undefined && !type.namespaced) {
      throw pathNotFound();
    }
    if (namespace === undefined && type.namespaced && name !== undefined) {
      throw pathNotFound();
    }
    if (subresource !== undefined) {
      const ok =
        (subresource === 'status' && type.statusSubresource) ||
        type.subresources.includes(subresource);
      if (!ok) {
        throw pathNotFound();
      }
    }
    return { type, namespace, name, subresource };
  }

  private _verb(method: string, path: IResourcePath, watch: boolean): string {
    const named = path.name !== undefined;
    switch (method) {
      case 'GET':
        return watch ? 'watch' : named ? 'get' : 'list';
      case 'POST':
        if (named) {
          throw methodNotAllowed(method);
        }
        return 'create';
      case 'PUT':
        return named ? 'update' : 'unsupported';
      case 'PATCH':
        return named ? 'patch' : 'unsupported';
      case 'DELETE':
        return named ? 'delete' : 'deletecollection';
      default:
        return 'unsupported';
    }
  }

  private _denied(verb: string, group: string, resource: string): boolean {
    return this._o.forbidden.some(
      r =>
        (r.verb === '*' || r.verb === verb) &&
        (r.group === '*' || r.group === group) &&
        (r.resource === '*' || r.resource === resource)
    );
  }

  private _authorize(verb: string, path: IResourcePath): void {
    const { type, namespace, name, subresource } = path;
    const resource = subresource ? `${type.plural}/${subresource}` : type.plural;
    if (this._denied(verb, type.group, resource)) {
      throw forbidden({
        user: this._o.user,
        verb,
        group: type.group,
        plural: type.plural,
        subresource,
        namespace,
        name
      });
    }
  }

  private _accessReview(method: string, body: string): IResult {
    if (method !== 'POST') {
      throw methodNotAllowed(method);
    }
    const review = parseJson(body);
    const spec = isObject(review.spec) ? review.spec : {};
    const attrs = isObject(spec.resourceAttributes) ? spec.resourceAttributes : {};
    const str = (v: unknown): string => (typeof v === 'string' ? v : '');
    const resource = str(attrs.subresource)
      ? `${str(attrs.resource)}/${str(attrs.subresource)}`
      : str(attrs.resource);
    const allowed = !this._denied(str(attrs.verb), str(attrs.group), resource);
    return {
      code: 201,
      body: {
        kind: 'SelfSubjectAccessReview',
        apiVersion: 'authorization.k8s.io/v1',
        metadata: { creationTimestamp: null },
        spec,
        status: allowed
          ? { allowed: true, reason: 'RBAC: allowed by RoleBinding' }
          : { allowed: false }
      }
    };
  }

  // ---- verbs --------------------------------------------------------------------------------

  private _existing(path: IResourcePath): JsonObject {
    const { type, namespace, name } = path;
    const obj = this._o.store.get(type, namespace ?? '', name ?? '');
    if (!obj) {
      throw notFound(type.group, type.plural, name ?? '');
    }
    return obj;
  }

  private _get(path: IResourcePath): JsonObject {
    return this._existing(path);
  }

  private _selector(path: IResourcePath, q: URLSearchParams): Selector {
    const { type } = path;
    const labels = labelSelector(q.get('labelSelector'));
    const allowed = [
      'metadata.name',
      'metadata.namespace',
      ...(type.custom ? [] : (CORE_FIELD_LABELS[type.plural] ?? []))
    ];
    const fields = fieldSelector(q.get('fieldSelector'), allowed);
    const name = path.name;
    return obj => labels(obj) && fields(obj) && (name === undefined || nameOf(obj) === name);
  }

  private _list(path: IResourcePath, q: URLSearchParams): JsonObject {
    const { store } = this._o;
    const { type } = path;
    const selector = this._selector(path, q);
    let items = store
      .list(type, path.namespace)
      .filter(selector)
      .sort((a, b) =>
        (namespaceOf(a) + '/' + nameOf(a)).localeCompare(namespaceOf(b) + '/' + nameOf(b))
      );
    const meta: JsonObject = { resourceVersion: String(store.resourceVersion) };
    const token = q.get('continue');
    if (token) {
      const parsed = decodeContinue(token);
      items = items.filter(o => namespaceOf(o) + '/' + nameOf(o) > parsed.after);
    }
    const limit = Number(q.get('limit') ?? '0');
    if (limit > 0 && items.length > limit) {
      const last = items[limit - 1];
      meta.continue = encodeContinue(store.resourceVersion, namespaceOf(last) + '/' + nameOf(last));
      meta.remainingItemCount = items.length - limit;
      items = items.slice(0, limit);
    }
    if (!type.custom) {
      items = items.map(({ apiVersion: _a, kind: _k, ...rest }) => rest);
    }
    return { apiVersion: apiVersionOf(type), kind: `${type.kind}List`, metadata: meta, items };
  }

  private _watch(
    path: IResourcePath,
    q: URLSearchParams,
    req: IncomingMessage,
    res: ServerResponse,
    record: IRequestRecord
  ): void {
    const { store } = this._o;
    const { type, namespace } = path;
    const key = typeKey(type.group, type.plural);
    const selector = this._selector(path, q);
    const rvParam = q.get('resourceVersion') ?? '';
    record.status = 200;
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-cache, private',
      'Transfer-Encoding': 'chunked'
    });
    res.flushHeaders();
    const write = (type: string, object: unknown): void => {
      if (!res.destroyed && !res.writableEnded) {
        res.write(JSON.stringify({ type, object }) + '\n');
      }
    };
    const deliver = (e: IStoreEvent): void => {
      if (e.key !== key) {
        return;
      }
      const inScope = (o: JsonObject | undefined): boolean =>
        o !== undefined && (namespace === undefined || namespaceOf(o) === namespace) && selector(o);
      const now = e.type !== 'DELETED' && inScope(e.object);
      const before = e.type === 'ADDED' ? false : inScope(e.old);
      if (e.type === 'DELETED') {
        if (before) {
          write('DELETED', e.object);
        }
      } else if (now && before) {
        write('MODIFIED', e.object);
      } else if (now) {
        write('ADDED', e.object);
      } else if (before) {
        write('DELETED', e.object);
      }
    };
    const timers: NodeJS.Timeout[] = [];
    let unsubscribe = (): void => undefined;
    const handle = {
      end: (): void => {
        unsubscribe();
        timers.forEach(t => clearTimeout(t));
        this._watches.delete(handle);
        if (!res.writableEnded) {
          res.end();
        }
      }
    };
    this._watches.add(handle);
    // Replay and subscribe in the same tick, so no event falls between them.
    if (rvParam === '' || rvParam === '0') {
      for (const obj of store.list(type, namespace).filter(selector)) {
        write('ADDED', obj);
      }
    } else {
      for (const e of store.eventsSince(Number(rvParam))) {
        deliver(e);
      }
    }
    unsubscribe = store.subscribe(deliver);
    const timeout = Number(q.get('timeoutSeconds') ?? '0');
    if (timeout > 0) {
      timers.push(setTimeout(() => handle.end(), timeout * 1000));
    }
    req.on('close', () => handle.end());
    res.on('close', () => handle.end());
  }

  private _checkTypeMeta(type: IResourceType, obj: JsonObject): void {
    const apiVersion = apiVersionOf(type);
    if (obj.apiVersion !== undefined && obj.apiVersion !== apiVersion) {
      throw badRequest(
        `the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${apiVersion})`
      );
    }
    if (obj.kind !== undefined && obj.kind !== type.kind) {
      throw badRequest(
        `the kind in the data (${String(obj.kind)}) does not match the expected kind (${type.kind})`
      );
    }
    obj.apiVersion = apiVersion;
    obj.kind = type.kind;
  }

  private _checkNamespace(path: IResourcePath, obj: JsonObject): void {
    if (!path.type.namespaced) {
      return;
    }
    const meta = metadataOf(obj);
    if (
      meta.namespace !== undefined &&
      meta.namespace !== '' &&
      meta.namespace !== path.namespace
    ) {
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request'
      );
    }
    meta.namespace = path.namespace;
  }

  private _validate(type: IResourceType, obj: JsonObject): void {
    const causes = validateObject(type, obj);
    if (causes.length > 0) {
      throw invalid(type.group, type.kind, nameOf(obj), causes);
    }
  }

  private _create(path: IResourcePath, obj: JsonObject, q: URLSearchParams): JsonObject {
    const { store, registry } = this._o;
    const { type } = path;
    if (path.subresource !== undefined) {
      throw methodNotAllowed('POST');
    }
    this._checkTypeMeta(type, obj);
    this._checkNamespace(path, obj);
    const meta = metadataOf(obj);
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== '') {
      throw internalError('resourceVersion should not be set on objects to be created');
    }
    for (const field of [
      'uid',
      'creationTimestamp',
      'generation',
      'deletionTimestamp',
      'managedFields'
    ]) {
      delete meta[field];
    }
    if (
      (meta.name === undefined || meta.name === '') &&
      typeof meta.generateName === 'string' &&
      meta.generateName !== ''
    ) {
      meta.name = `${meta.generateName}${randomSuffix()}`;
    }
    if (type.namespaced) {
      const nsType = registry.find('', 'v1', 'namespaces');
      if (nsType && !store.get(nsType, '', path.namespace ?? '')) {
        throw notFound('', 'namespaces', path.namespace ?? '');
      }
    }
    defaultStatus(type, obj);
    this._validate(type, obj);
    if (store.get(type, path.namespace ?? '', nameOf(obj))) {
      throw alreadyExists(type.group, type.plural, nameOf(obj));
    }
    if (q.get('dryRun') === 'All') {
      return obj;
    }
    return store.create(type, obj);
  }

  /** Shared tail of update and patch: preconditions, status rules, validation, no-op detection. */
  private _store(
    path: IResourcePath,
    old: JsonObject,
    next: JsonObject,
    q: URLSearchParams
  ): JsonObject {
    const { type } = path;
    const { store } = this._o;
    this._checkTypeMeta(type, next);
    const meta = metadataOf(next);
    const oldMeta = metadataOf(old);
    if (meta.name !== undefined && meta.name !== oldMeta.name) {
      throw badRequest(
        `the name of the object (${String(meta.name)}) does not match the name on the URL (${String(oldMeta.name)})`
      );
    }
    this._checkNamespace(path, next);
    meta.name = oldMeta.name;
    if (
      meta.resourceVersion !== undefined &&
      meta.resourceVersion !== '' &&
      meta.resourceVersion !== oldMeta.resourceVersion
    ) {
      throw conflict(type.group, type.plural, nameOf(old));
    }
    let result: JsonObject;
    if (path.subresource === 'status') {
      result = clone(old);
      if (next.status === undefined) {
        delete result.status;
      } else {
        result.status = next.status;
      }
    } else {
      result = next;
      if (type.statusSubresource) {
        if (old.status === undefined) {
          delete result.status;
        } else {
          result.status = clone(old.status);
        }
      }
    }
    const rmeta = metadataOf(result);
    rmeta.uid = oldMeta.uid;
    rmeta.creationTimestamp = oldMeta.creationTimestamp;
    rmeta.resourceVersion = oldMeta.resourceVersion;
    if (oldMeta.generation !== undefined) {
      rmeta.generation = oldMeta.generation;
    }
    this._validate(type, result);
    if (deepEqual(result, old)) {
      return old;
    }
    if (q.get('dryRun') === 'All') {
      return result;
    }
    return store.update(type, result);
  }

  private _replace(path: IResourcePath, obj: JsonObject, q: URLSearchParams): JsonObject {
    const old = this._existing(path);
    const rv = metadataOf(obj).resourceVersion;
    if (path.type.custom && (rv === undefined || rv === '')) {
      throw invalid(path.type.group, path.type.kind, path.name ?? '', [
        {
          reason: 'FieldValueInvalid',
          message: 'Invalid value: 0x0: must be specified for an update',
          field: 'metadata.resourceVersion'
        }
      ]);
    }
    return this._store(path, old, obj, q);
  }

  private _patch(
    path: IResourcePath,
    body: string,
    contentType: string,
    q: URLSearchParams
  ): JsonObject {
    const mediaType = contentType.split(';')[0].trim().toLowerCase();
    const { type } = path;
    let strategy: 'merge' | 'json';
    if (mediaType === 'application/merge-patch+json') {
      strategy = 'merge';
    } else if (mediaType === 'application/json-patch+json') {
      strategy = 'json';
    } else if (mediaType === 'application/strategic-merge-patch+json' && !type.custom) {
      strategy = 'merge';
    } else {
      throw unsupportedMediaType(
        type.custom ? PATCH_TYPES : [...PATCH_TYPES, 'application/strategic-merge-patch+json']
      );
    }
    const old = this._existing(path);
    let patchBody: unknown;
    try {
      patchBody = JSON.parse(body);
    } catch {
      throw badRequest(`error decoding patch: invalid character in ${mediaType} body`);
    }
    let next: JsonObject;
    try {
      if (strategy === 'merge') {
        const merged = mergePatch(old, patchBody);
        if (!isObject(merged)) {
          throw new PatchError('merge patch must be a JSON object');
        }
        next = merged;
      } else {
        next = jsonPatch(old, patchBody);
      }
    } catch (err) {
      if (err instanceof PatchError) {
        throw new StatusError(
          failure(
            422,
            'Invalid',
            `the server rejected our request due to an error in our request: ${err.message}`
          )
        );
      }
      throw err;
    }
    // A resourceVersion the patch carries is a precondition; an unchanged one means "no precondition".
    const patchedRv = metadataOf(next).resourceVersion;
    if (patchedRv === metadataOf(old).resourceVersion) {
      delete metadataOf(next).resourceVersion;
    }
    return this._store(path, old, next, q);
  }

  private _delete(path: IResourcePath, body: string, q: URLSearchParams): JsonObject {
    const { store } = this._o;
    const { type } = path;
    const old = this._existing(path);
    const options = body.trim() === '' ? {} : parseJson(body);
    const pre = isObject(options.preconditions) ? options.preconditions : {};
    if (
      (typeof pre.uid === 'string' && pre.uid !== uidOf(old)) ||
      (typeof pre.resourceVersion === 'string' &&
        pre.resourceVersion !== metadataOf(old).resourceVersion)
    ) {
      throw conflict(type.group, type.plural, nameOf(old));
    }
    const policy =
      q.get('propagationPolicy') ??
      (typeof options.propagationPolicy === 'string' ? options.propagationPolicy : '');
    if (q.get('dryRun') === 'All') {
      return old;
    }
    if (policy === 'Orphan' || q.get('orphanDependents') === 'true') {
      this._orphanDependents(uidOf(old));
    }
    const gone = store.remove(type, path.namespace ?? '', path.name ?? '') ?? old;
    if (type.plural === 'namespaces' && type.group === '') {
      for (const t of this._o.registry.types.filter(t => t.namespaced)) {
        for (const o of store.list(t, nameOf(old))) {
          store.remove(t, nameOf(old), nameOf(o));
        }
      }
    }
    if (type.custom) {
      return {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        details: { name: nameOf(old), group: type.group, kind: type.plural, uid: uidOf(old) }
      };
    }
    const meta = metadataOf(gone);
    meta.deletionTimestamp = timestamp();
    meta.deletionGracePeriodSeconds = 0;
    return gone;
  }

  private _deleteCollection(path: IResourcePath, q: URLSearchParams): JsonObject {
    const { store } = this._o;
    const { type } = path;
    const selector = this._selector(path, q);
    const items = store.list(type, path.namespace).filter(selector);
    for (const obj of items) {
      store.remove(type, namespaceOf(obj), nameOf(obj));
    }
    return {
      apiVersion: apiVersionOf(type),
      kind: `${type.kind}List`,
      metadata: { resourceVersion: String(store.resourceVersion) },
      items
    };
  }

  private _orphanDependents(ownerUid: string): void {
    const { store, registry } = this._o;
    for (const { key, object } of store.all()) {
      const meta = metadataOf(object);
      const refs = meta.ownerReferences;
      if (!Array.isArray(refs) || !refs.some(r => isObject(r) && r.uid === ownerUid)) {
        continue;
      }
      meta.ownerReferences = refs.filter(r => !(isObject(r) && r.uid === ownerUid));
      const type = registry.types.find(t => typeKey(t.group, t.plural) === key);
      if (type) {
        store.update(type, object);
      }
    }
  }

  private _podLog(path: IResourcePath, q: URLSearchParams): IResult {
    const pod = this._existing(path);
    const name = nameOf(pod);
    const spec = isObject(pod.spec) ? pod.spec : {};
    const containers = (Array.isArray(spec.containers) ? spec.containers : [])
      .map(c => (isObject(c) && typeof c.name === 'string' ? c.name : ''))
      .filter(n => n !== '');
    let container = q.get('container') ?? '';
    if (container === '') {
      if (containers.length !== 1) {
        throw badRequest(
          `a container name must be specified for pod ${name}, choose one of: [${containers.join(' ')}]`
        );
      }
      container = containers[0];
    }
    if (!containers.includes(container)) {
      throw badRequest(`container ${container} is not valid for pod ${name}`);
    }
    const status = isObject(pod.status) ? pod.status : {};
    if (status.phase === 'Pending' || status.phase === undefined) {
      throw badRequest(
        `container "${container}" in pod "${name}" is waiting to start: ContainerCreating`
      );
    }
    let text = this._o.podLogs.get(name, container, path.namespace) ?? '';
    const tail = q.get('tailLines');
    if (tail !== null && /^\d+$/.test(tail)) {
      const lines = text.split('\n');
      const trailing = lines[lines.length - 1] === '' ? lines.pop() : undefined;
      text =
        lines.slice(Math.max(0, lines.length - Number(tail))).join('\n') +
        (trailing === '' ? '\n' : '');
    }
    const limit = q.get('limitBytes');
    if (limit !== null && /^\d+$/.test(limit)) {
      text = Buffer.from(text, 'utf8').subarray(0, Number(limit)).toString('utf8');
    }
    return { code: 200, body: text, contentType: 'text/plain' };
  }
}

function defaultStatus(type: IResourceType, obj: JsonObject): void {
  if (type.statusSubresource && type.custom) {
    delete obj.status;
  }
  if (type.group !== '') {
    return;
  }
  if (type.plural === 'pods') {
    obj.status = { phase: 'Pending', qosClass: 'BestEffort' };
  } else if (type.plural === 'persistentvolumeclaims') {
    obj.status = { phase: 'Pending' };
    const spec = isObject(obj.spec) ? obj.spec : {};
    if (spec.volumeMode === undefined) {
      spec.volumeMode = 'Filesystem';
    }
  } else if (type.plural === 'namespaces') {
    obj.status = { phase: 'Active' };
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(body: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    throw badRequest(
      `error decoding request body: ${err instanceof Error ? err.message : String(err)}`
    );
  }
  if (!isObject(value)) {
    throw badRequest('error decoding request body: expected a JSON object');
  }
  return value;
}

function encodeContinue(rv: number, after: string): string {
  return Buffer.from(JSON.stringify({ rv, after }), 'utf8').toString('base64url');
}

function decodeContinue(token: string): { rv: number; after: string } {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (isObject(parsed) && typeof parsed.rv === 'number' && typeof parsed.after === 'string') {
      return { rv: parsed.rv, after: parsed.after };
    }
  } catch {
    // fall through
  }
  throw badRequest(
    'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)'
  );
}
