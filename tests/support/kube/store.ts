/**
 * In-memory object store of the test API server: one global, monotonically increasing
 * resourceVersion, an event log (for watches that resume from a resourceVersion; never
 * compacted: 410 Expired is the fault proxy's job, tests/support/cluster/proxy.ts), and
 * synchronous subscribers (HTTP watches, the controller).
 */
import { randomUUID } from 'node:crypto';

import { IResourceType, JsonObject, typeKey } from './resources.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface IStoreEvent {
  rv: number;
  type: WatchEventType;
  key: string;
  object: JsonObject;
  /** The object before this change (MODIFIED/DELETED), for selector transitions. */
  old?: JsonObject;
}

export type StoreListener = (event: IStoreEvent) => void;

export function clone<T>(value: T): T {
  return structuredClone(value);
}

export function metadataOf(obj: JsonObject): JsonObject {
  const meta = obj.metadata;
  if (meta !== null && typeof meta === 'object' && !Array.isArray(meta)) {
    return meta as JsonObject;
  }
  const fresh: JsonObject = {};
  obj.metadata = fresh;
  return fresh;
}

export function nameOf(obj: JsonObject): string {
  const name = metadataOf(obj).name;
  return typeof name === 'string' ? name : '';
}

export function namespaceOf(obj: JsonObject): string {
  const ns = metadataOf(obj).namespace;
  return typeof ns === 'string' ? ns : '';
}

export function uidOf(obj: JsonObject): string {
  const uid = metadataOf(obj).uid;
  return typeof uid === 'string' ? uid : '';
}

function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export class Store {
  private _rv = 1000;
  private readonly _objects = new Map<string, Map<string, JsonObject>>();
  private readonly _log: IStoreEvent[] = [];
  private readonly _listeners = new Set<StoreListener>();

  /** Current (latest) resourceVersion. */
  get resourceVersion(): number {
    return this._rv;
  }

  subscribe(listener: StoreListener): () => void {
    this._listeners.add(listener);
    return () => {
      this._listeners.delete(listener);
    };
  }

  /** Events after `rv`, oldest first. */
  eventsSince(rv: number): IStoreEvent[] {
    return this._log.filter(e => e.rv > rv);
  }

  get(type: IResourceType, namespace: string, name: string): JsonObject | undefined {
    const obj = this._bucket(type).get(objectKey(namespace, name));
    return obj === undefined ? undefined : clone(obj);
  }

  /** All objects of a type (in one namespace, or all when namespace is undefined), by creation order. */
  list(type: IResourceType, namespace?: string): JsonObject[] {
    const out: JsonObject[] = [];
    for (const obj of this._bucket(type).values()) {
      if (namespace === undefined || namespaceOf(obj) === namespace) {
        out.push(clone(obj));
      }
    }
    return out;
  }

  /** Every stored object with its type key (for garbage collection). */
  all(): Array<{ key: string; object: JsonObject }> {
    const out: Array<{ key: string; object: JsonObject }> = [];
    for (const [key, bucket] of this._objects) {
      for (const obj of bucket.values()) {
        out.push({ key, object: clone(obj) });
      }
    }
    return out;
  }

  /**
   * Insert a new object: fills uid, creationTimestamp, generation, resourceVersion. The caller has
   * checked that the name is free.
   */
  create(type: IResourceType, input: JsonObject): JsonObject {
    const obj = clone(input);
    const meta = metadataOf(obj);
    meta.uid = typeof meta.uid === 'string' && meta.uid !== '' ? meta.uid : randomUUID();
    if (typeof meta.creationTimestamp !== 'string') {
      meta.creationTimestamp = timestamp();
    }
    if (type.custom || type.statusSubresource) {
      meta.generation = 1;
    }
    if (!type.namespaced) {
      delete meta.namespace;
    }
    meta.resourceVersion = String(this._next());
    this._bucket(type).set(objectKey(namespaceOf(obj), nameOf(obj)), obj);
    this._emit({
      rv: this._rv,
      type: 'ADDED',
      key: typeKey(type.group, type.plural),
      object: clone(obj)
    });
    return clone(obj);
  }

  /** Replace an existing object (caller has merged and checked); bumps resourceVersion. */
  update(type: IResourceType, input: JsonObject): JsonObject {
    const obj = clone(input);
    const key = objectKey(namespaceOf(obj), nameOf(obj));
    const bucket = this._bucket(type);
    const old = bucket.get(key);
    if (old === undefined) {
      return this.create(type, obj);
    }
    const meta = metadataOf(obj);
    const oldMeta = metadataOf(old);
    meta.uid = oldMeta.uid;
    meta.creationTimestamp = oldMeta.creationTimestamp;
    if (oldMeta.generation !== undefined) {
      meta.generation = generationChanged(type, old, obj)
        ? Number(oldMeta.generation) + 1
        : oldMeta.generation;
    }
    meta.resourceVersion = String(this._next());
    bucket.set(key, obj);
    this._emit({
      rv: this._rv,
      type: 'MODIFIED',
      key: typeKey(type.group, type.plural),
      object: clone(obj),
      old: clone(old)
    });
    return clone(obj);
  }

  remove(type: IResourceType, namespace: string, name: string): JsonObject | undefined {
    const bucket = this._bucket(type);
    const key = objectKey(namespace, name);
    const old = bucket.get(key);
    if (old === undefined) {
      return undefined;
    }
    bucket.delete(key);
    const gone = clone(old);
    metadataOf(gone).resourceVersion = String(this._next());
    this._emit({
      rv: this._rv,
      type: 'DELETED',
      key: typeKey(type.group, type.plural),
      object: clone(gone),
      old: clone(old)
    });
    return gone;
  }

  private _next(): number {
    this._rv += 1;
    return this._rv;
  }

  private _emit(event: IStoreEvent): void {
    this._log.push(event);
    for (const listener of [...this._listeners]) {
      listener(event);
    }
  }

  private _bucket(type: IResourceType): Map<string, JsonObject> {
    const key = typeKey(type.group, type.plural);
    let bucket = this._objects.get(key);
    if (bucket === undefined) {
      bucket = new Map();
      this._objects.set(key, bucket);
    }
    return bucket;
  }
}

export function timestamp(date: Date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** generation counts changes outside metadata (and outside status when status is a subresource). */
function generationChanged(type: IResourceType, old: JsonObject, next: JsonObject): boolean {
  const strip = (o: JsonObject): JsonObject => {
    const rest: JsonObject = { ...o };
    delete rest.metadata;
    if (type.statusSubresource) {
      delete rest.status;
    }
    return rest;
  };
  return !deepEqual(strip(old), strip(next));
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) {
    return true;
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    return false;
  }
  if (Array.isArray(a) !== Array.isArray(b)) {
    return false;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  const ao = a as JsonObject;
  const bo = b as JsonObject;
  const ak = Object.keys(ao).filter(k => ao[k] !== undefined);
  const bk = Object.keys(bo).filter(k => bo[k] !== undefined);
  return ak.length === bk.length && ak.every(k => deepEqual(ao[k], bo[k]));
}
