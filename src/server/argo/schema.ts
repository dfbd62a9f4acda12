/**
 * Argo's Workflow schema, as the Kubernetes API server applies it: the CRD's openAPIV3Schema
 * (schema/argo/workflow.schema.json, written by scripts/argo-schema.mjs), with unknown fields
 * refused as strict field validation refuses them. Checked with ajv, compiled once on first use.
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';

export type SchemaError = ErrorObject;

const SCHEMA_FILE = 'schema/argo/workflow.schema.json';

namespace Private {
  const validators = new Map<boolean, ValidateFunction>();

  /** The package root: the nearest folder above this module holding the schema. */
  function schemaPath(): string {
    let dir = dirname(fileURLToPath(import.meta.url));
    for (;;) {
      const candidate = join(dir, SCHEMA_FILE);
      if (existsSync(candidate)) {
        return candidate;
      }
      const parent = dirname(dir);
      if (parent === dir) {
        throw new Error(`the Argo Workflow schema (${SCHEMA_FILE}) is missing from the package`);
      }
      dir = parent;
    }
  }

  /** `all`: report every error (slower to compile) rather than the first. */
  export function validator(all: boolean): ValidateFunction {
    let validate = validators.get(all);
    if (validate === undefined) {
      const schema = JSON.parse(readFileSync(schemaPath(), 'utf8')) as Record<string, unknown>;
      // The CRD's x-kubernetes-* keywords and formats (int32, int-or-string, ...) are the API
      // server's business; ajv checks structure, types, enums, patterns and item counts.
      const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: all });
      validate = ajv.compile(schema);
      validators.set(all, validate);
    }
    return validate;
  }
}

/** The schema errors of a Workflow object (empty when it is valid); `all`: every one. */
export function workflowSchemaErrors(workflow: unknown, all = false): SchemaError[] {
  const validate = Private.validator(all);
  return validate(workflow) ? [] : [...(validate.errors ?? [])];
}

/** The first problem in a Workflow as one line (`spec/templates must NOT have ...`), or null. */
export function workflowSchemaProblem(workflow: unknown): string | null {
  const errors = workflowSchemaErrors(workflow).filter(
    e => e.keyword !== 'anyOf' && e.keyword !== 'oneOf'
  );
  if (errors.length === 0) {
    return null;
  }
  const e = errors[0];
  const where = e.instancePath.replace(/^\//, '') || 'the Workflow';
  return `${where} ${e.message ?? e.keyword}`;
}
