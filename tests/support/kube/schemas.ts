/**
 * Loads the project's own JSON schemas for custom resources (tests/support/kube/schemas/*.schema.json) and checks
 * objects against them the way kube-apiserver checks a structural CRD schema: one cause per field,
 * kube's messages, and pruning of fields the schema does not declare.
 *
 * Supported keywords: type (string or list), properties, required, enum, pattern, minLength, items,
 * additionalProperties (schema), oneOf (of `required` alternatives), plus `x-message` (the CRD's CEL
 * message for a minLength / oneOf rule) and `x-kubernetes-preserve-unknown-fields`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { JsonObject } from './resources.js';
import { IStatusCause } from './status.js';

export interface ISchema {
  type?: string | string[];
  properties?: Record<string, ISchema>;
  required?: string[];
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  items?: ISchema;
  additionalProperties?: ISchema | boolean;
  oneOf?: ISchema[];
  'x-message'?: string;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-group-version-kind'?: { group: string; version: string; kind: string };
}

/** tests/support/kube/schemas/ of this checkout. */
export const SCHEMA_DIR = fileURLToPath(new URL('./schemas/', import.meta.url));

const cache = new Map<string, ISchema>();

export function loadSchema(file: string): ISchema {
  let schema = cache.get(file);
  if (schema === undefined) {
    schema = JSON.parse(readFileSync(`${SCHEMA_DIR}${file}`, 'utf8')) as ISchema;
    cache.set(file, schema);
  }
  return schema;
}

/** The JSON-schema type of a value (`integer` for whole numbers). */
export function jsonType(value: unknown): string {
  if (value === null) {
    return 'null';
  }
  if (Array.isArray(value)) {
    return 'array';
  }
  if (typeof value === 'number') {
    return Number.isInteger(value) ? 'integer' : 'number';
  }
  return typeof value;
}

function typeMatches(expected: string, actual: string): boolean {
  return expected === actual || (expected === 'number' && actual === 'integer');
}

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : `"${jsonType(value)}"`;
}

function child(path: string, key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${key}]`;
}

function check(schema: ISchema, value: unknown, path: string, causes: IStatusCause[]): void {
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const actual = jsonType(value);
    if (!types.some(t => typeMatches(t, actual))) {
      causes.push({
        reason: 'FieldValueTypeInvalid',
        message: `Invalid value: "${actual}": ${path} in body must be of type ${types.join(',')}: "${actual}"`,
        field: path
      });
      return;
    }
  }
  if (schema.enum !== undefined && !schema.enum.includes(value)) {
    const supported = schema.enum.map(v => JSON.stringify(v)).join(', ');
    causes.push({
      reason: 'FieldValueNotSupported',
      message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${supported}`,
      field: path
    });
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) {
      causes.push({
        reason: 'FieldValueInvalid',
        message:
          `Invalid value: "string": ` +
          (schema['x-message'] ??
            `${path} in body should be at least ${schema.minLength} chars long`),
        field: path
      });
    }
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) {
      causes.push({
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${show(value)}: ${path} in body should match '${schema.pattern}'`,
        field: path
      });
    }
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    value.forEach((item, i) => check(schema.items as ISchema, item, `${path}[${i}]`, causes));
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const obj = value as JsonObject;
    for (const name of schema.required ?? []) {
      if (obj[name] === undefined) {
        causes.push({
          reason: 'FieldValueRequired',
          message: 'Required value',
          field: child(path, name)
        });
      }
    }
    for (const [key, item] of Object.entries(obj)) {
      const sub = schema.properties?.[key];
      if (sub !== undefined) {
        check(sub, item, child(path, key), causes);
      } else if (typeof schema.additionalProperties === 'object') {
        check(schema.additionalProperties, item, child(path, key), causes);
      }
    }
    if (schema.oneOf !== undefined) {
      const passing = schema.oneOf.filter(alt =>
        (alt.required ?? []).every(k => obj[k] !== undefined)
      );
      if (passing.length !== 1) {
        causes.push({
          reason: 'FieldValueInvalid',
          message: `Invalid value: "object": ${schema['x-message'] ?? `${path} must validate one and only one schema (oneOf)`}`,
          field: path
        });
      }
    }
  }
}

/** Causes (empty when valid), with `field` paths like `spec.source`. */
export function validateAgainst(schema: ISchema, obj: JsonObject): IStatusCause[] {
  const causes: IStatusCause[] = [];
  check(schema, obj, '', causes);
  return causes;
}

/** Remove fields the schema does not declare (in place), as a structural CRD does. */
export function prune(schema: ISchema, value: unknown, root = true): void {
  if (value === null || typeof value !== 'object') {
    return;
  }
  if (Array.isArray(value)) {
    if (schema.items !== undefined) {
      for (const item of value) {
        prune(schema.items, item, false);
      }
    }
    return;
  }
  if (schema['x-kubernetes-preserve-unknown-fields'] === true) {
    return;
  }
  const obj = value as JsonObject;
  for (const key of Object.keys(obj)) {
    if (root && key === 'metadata') {
      continue;
    }
    const sub = schema.properties?.[key];
    if (sub !== undefined) {
      prune(sub, obj[key], false);
    } else if (typeof schema.additionalProperties === 'object') {
      prune(schema.additionalProperties, obj[key], false);
    } else if (schema.additionalProperties !== true && schema.properties !== undefined) {
      delete obj[key];
    }
  }
}
