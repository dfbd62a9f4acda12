/**
 * JSON merge patch (RFC 7386) and JSON patch (RFC 6902), the two patch types every resource accepts.
 */
import { JsonObject } from './resources.js';
import { clone, deepEqual } from './store.js';

export class PatchError extends Error {}

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) {
    return clone(patch);
  }
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete out[key];
    } else {
      out[key] = mergePatch(out[key], value);
    }
  }
  return out;
}

function decodePointer(pointer: string): string[] {
  if (pointer === '') {
    return [];
  }
  if (!pointer.startsWith('/')) {
    throw new PatchError(`invalid JSON pointer: "${pointer}"`);
  }
  return pointer
    .slice(1)
    .split('/')
    .map(p => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

interface ILocation {
  parent: JsonObject | unknown[];
  key: string;
}

function locate(doc: unknown, pointer: string): ILocation {
  const parts = decodePointer(pointer);
  if (parts.length === 0) {
    throw new PatchError('replacing the whole document is not supported');
  }
  let cur: unknown = doc;
  for (const part of parts.slice(0, -1)) {
    if (Array.isArray(cur)) {
      cur = cur[Number(part)];
    } else if (isObject(cur)) {
      cur = cur[part];
    } else {
      cur = undefined;
    }
    if (cur === undefined) {
      throw new PatchError(`doc is missing path: "${pointer}": missing value`);
    }
  }
  if (!Array.isArray(cur) && !isObject(cur)) {
    throw new PatchError(`doc is missing path: "${pointer}": missing value`);
  }
  return { parent: cur, key: parts[parts.length - 1] };
}

function read(loc: ILocation, pointer: string): unknown {
  const value = Array.isArray(loc.parent) ? loc.parent[Number(loc.key)] : loc.parent[loc.key];
  if (value === undefined) {
    throw new PatchError(`doc is missing path: "${pointer}": missing value`);
  }
  return value;
}

function arrayIndex(arr: unknown[], key: string, forInsert: boolean): number {
  if (forInsert && key === '-') {
    return arr.length;
  }
  const index = Number(key);
  const max = forInsert ? arr.length : arr.length - 1;
  if (!/^\d+$/.test(key) || index > max) {
    throw new PatchError(`Unable to access invalid index: ${key}`);
  }
  return index;
}

function add(doc: unknown, pointer: string, value: unknown): void {
  const loc = locate(doc, pointer);
  if (Array.isArray(loc.parent)) {
    loc.parent.splice(arrayIndex(loc.parent, loc.key, true), 0, clone(value));
  } else {
    loc.parent[loc.key] = clone(value);
  }
}

function remove(doc: unknown, pointer: string): unknown {
  const loc = locate(doc, pointer);
  const old = read(loc, pointer);
  if (Array.isArray(loc.parent)) {
    loc.parent.splice(arrayIndex(loc.parent, loc.key, false), 1);
  } else {
    delete loc.parent[loc.key];
  }
  return old;
}

export function jsonPatch(target: JsonObject, ops: unknown): JsonObject {
  if (!Array.isArray(ops)) {
    throw new PatchError('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  }
  const doc = clone(target);
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      throw new PatchError('invalid JSON patch operation');
    }
    const { op, path } = raw;
    switch (op) {
      case 'add':
        add(doc, path, raw.value);
        break;
      case 'remove':
        remove(doc, path);
        break;
      case 'replace': {
        const loc = locate(doc, path);
        read(loc, path);
        if (Array.isArray(loc.parent)) {
          loc.parent[arrayIndex(loc.parent, loc.key, false)] = clone(raw.value);
        } else {
          loc.parent[loc.key] = clone(raw.value);
        }
        break;
      }
      case 'test': {
        const loc = locate(doc, path);
        if (!deepEqual(read(loc, path), raw.value)) {
          throw new PatchError(`testing value ${path} failed: test failed`);
        }
        break;
      }
      case 'move':
      case 'copy': {
        if (typeof raw.from !== 'string') {
          throw new PatchError(`${op} operation missing "from"`);
        }
        const value = op === 'move' ? remove(doc, raw.from) : read(locate(doc, raw.from), raw.from);
        add(doc, path, value);
        break;
      }
      default:
        throw new PatchError(`Unexpected kind: ${op}`);
    }
  }
  return doc;
}
