/**
 * Server-side validation: object names (DNS-1123), labels, the core types Chard creates (Pod, PVC),
 * Workflows against Argo's CRD schema (src/server/argo/schema.ts), VolumeSnapshot /
 * VolumeSnapshotClass against the schemas in tests/support/kube/schemas/.
 * Returns kube-style causes; the server turns them into one 422 Invalid.
 */
import { workflowSchemaErrors } from '../../../src/server/argo/schema.js';

import { IResourceType, JsonObject } from './resources.js';
import { ISchema, jsonType, loadSchema, prune, validateAgainst } from './schemas.js';
import { IStatusCause, badRequest } from './status.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const QUANTITY = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;

const SUBDOMAIN_MESSAGE =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', " +
  "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is " +
  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MESSAGE =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start " +
  "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is " +
  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

export function dns1123Subdomain(value: string, field: string): IStatusCause[] {
  const causes: IStatusCause[] = [];
  if (value.length > 253) {
    causes.push(invalidValue(field, value, 'must be no more than 253 characters'));
  }
  if (!DNS1123_SUBDOMAIN.test(value)) {
    causes.push(invalidValue(field, value, SUBDOMAIN_MESSAGE));
  }
  return causes;
}

export function dns1123Label(value: string, field: string): IStatusCause[] {
  const causes: IStatusCause[] = [];
  if (value.length > 63) {
    causes.push(invalidValue(field, value, 'must be no more than 63 characters'));
  }
  if (!DNS1123_LABEL.test(value)) {
    causes.push(invalidValue(field, value, LABEL_MESSAGE));
  }
  return causes;
}

function invalidValue(field: string, value: unknown, message: string): IStatusCause {
  return {
    reason: 'FieldValueInvalid',
    message: `Invalid value: ${JSON.stringify(value)}: ${message}`,
    field
  };
}

function required(field: string, detail?: string): IStatusCause {
  return {
    reason: 'FieldValueRequired',
    message: detail ? `Required value: ${detail}` : 'Required value',
    field
  };
}

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function labelCauses(labels: unknown): IStatusCause[] {
  const causes: IStatusCause[] = [];
  if (labels === undefined) {
    return causes;
  }
  if (!isObject(labels)) {
    throw badRequest('metadata.labels: expected map[string]string');
  }
  for (const [key, value] of Object.entries(labels)) {
    const slash = key.indexOf('/');
    const prefix = slash >= 0 ? key.slice(0, slash) : '';
    const name = slash >= 0 ? key.slice(slash + 1) : key;
    if (slash >= 0 && (prefix === '' || !DNS1123_SUBDOMAIN.test(prefix) || prefix.length > 253)) {
      causes.push(invalidValue('metadata.labels', key, `prefix part ${SUBDOMAIN_MESSAGE}`));
    }
    if (name.length > 63) {
      causes.push(
        invalidValue('metadata.labels', key, 'name part must be no more than 63 characters')
      );
    }
    if (!LABEL_NAME.test(name)) {
      causes.push(
        invalidValue(
          'metadata.labels',
          key,
          "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an " +
            "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is " +
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        )
      );
    }
    if (typeof value !== 'string') {
      throw badRequest(
        `json: cannot unmarshal ${typeof value} into Go struct field ObjectMeta.metadata.labels of type string`
      );
    }
    if (value.length > 63) {
      causes.push(invalidValue('metadata.labels', value, 'must be no more than 63 characters'));
    }
    if (value !== '' && !LABEL_NAME.test(value)) {
      causes.push(
        invalidValue(
          'metadata.labels',
          value,
          "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must " +
            "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used " +
            "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        )
      );
    }
  }
  return causes;
}

/** Metadata checks every type shares: name format and labels. */
export function metadataCauses(type: IResourceType, obj: JsonObject): IStatusCause[] {
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : '';
  const causes: IStatusCause[] = [];
  if (name === '') {
    causes.push(required('metadata.name', 'name or generateName is required'));
  } else if (type.plural === 'namespaces') {
    causes.push(...dns1123Label(name, 'metadata.name'));
  } else {
    causes.push(...dns1123Subdomain(name, 'metadata.name'));
  }
  causes.push(...labelCauses(meta.labels));
  return causes;
}

function podCauses(obj: JsonObject): IStatusCause[] {
  const spec = isObject(obj.spec) ? obj.spec : {};
  const causes: IStatusCause[] = [];
  const containers = spec.containers;
  if (!Array.isArray(containers) || containers.length === 0) {
    causes.push(required('spec.containers'));
    return causes;
  }
  containers.forEach((c: unknown, i: number) => {
    const container = isObject(c) ? c : {};
    const field = `spec.containers[${i}]`;
    if (typeof container.name !== 'string' || container.name === '') {
      causes.push(required(`${field}.name`));
    } else {
      causes.push(...dns1123Label(container.name, `${field}.name`));
    }
    if (typeof container.image !== 'string' || container.image === '') {
      causes.push(required(`${field}.image`));
    }
  });
  return causes;
}

const ACCESS_MODES = ['ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOnce', 'ReadWriteOncePod'];

function pvcCauses(obj: JsonObject): IStatusCause[] {
  const spec = isObject(obj.spec) ? obj.spec : {};
  const causes: IStatusCause[] = [];
  const modes = spec.accessModes;
  if (!Array.isArray(modes) || modes.length === 0) {
    causes.push(required('spec.accessModes', 'at least 1 access mode is required'));
  } else {
    for (const mode of modes) {
      if (typeof mode !== 'string' || !ACCESS_MODES.includes(mode)) {
        causes.push({
          reason: 'FieldValueNotSupported',
          message: `Unsupported value: ${JSON.stringify(mode)}: supported values: ${ACCESS_MODES.map(m => `"${m}"`).join(', ')}`,
          field: 'spec.accessModes'
        });
      }
    }
  }
  const resources = isObject(spec.resources) ? spec.resources : {};
  const requests = isObject(resources.requests) ? resources.requests : {};
  const storage = requests.storage;
  if (storage === undefined) {
    causes.push(required('spec.resources[storage]'));
  } else if (typeof storage !== 'string' || !QUANTITY.test(storage)) {
    throw badRequest(
      `quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`
    );
  }
  if (spec.dataSource !== undefined) {
    const ds = isObject(spec.dataSource) ? spec.dataSource : {};
    if (typeof ds.kind !== 'string' || ds.kind === '') {
      causes.push(required('spec.dataSource.kind'));
    }
    if (typeof ds.name !== 'string' || ds.name === '') {
      causes.push(required('spec.dataSource.name'));
    }
    if (ds.kind === 'VolumeSnapshot' && ds.apiGroup !== 'snapshot.storage.k8s.io') {
      causes.push(
        invalidValue(
          'spec.dataSource',
          ds,
          'must have apiGroup snapshot.storage.k8s.io for kind VolumeSnapshot'
        )
      );
    }
  }
  return causes;
}

/** `/spec/templates/0/dag` -> `spec.templates[0].dag` */
export function pointerToField(pointer: string): string {
  let field = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) {
      field += `[${part}]`;
    } else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(part)) {
      field += field === '' ? part : `.${part}`;
    } else {
      field += `[${part}]`;
    }
  }
  return field;
}

function valueAt(obj: unknown, pointer: string): unknown {
  let cur = obj;
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      cur = cur[Number(part)];
    } else if (isObject(cur)) {
      cur = cur[part];
    } else {
      return undefined;
    }
  }
  return cur;
}

/** Validate a Workflow with Argo's own schema (the CRD's, as the API server applies it). */
export function workflowCauses(obj: JsonObject): IStatusCause[] {
  const errors = workflowSchemaErrors(obj, true);
  const causes: IStatusCause[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if (e.keyword === 'oneOf' || e.keyword === 'anyOf' || e.keyword === 'if') {
      continue;
    }
    const field = pointerToField(e.instancePath);
    const value = valueAt(obj, e.instancePath);
    let cause: IStatusCause;
    if (e.keyword === 'required') {
      const missing = String(e.params.missingProperty);
      cause = required(field ? `${field}.${missing}` : missing);
    } else if (e.keyword === 'type') {
      const actual = jsonType(value);
      cause = {
        reason: 'FieldValueTypeInvalid',
        message: `Invalid value: "${actual}": ${field} in body must be of type ${String(e.params.type)}: "${actual}"`,
        field
      };
    } else if (e.keyword === 'enum') {
      const allowed = Array.isArray(e.params.allowedValues) ? e.params.allowedValues : [];
      cause = {
        reason: 'FieldValueNotSupported',
        message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed.map(v => JSON.stringify(v)).join(', ')}`,
        field
      };
    } else {
      cause = invalidValue(field, value, `${field} in body ${e.message ?? e.keyword}`);
    }
    const key = `${cause.field}\u0000${cause.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      causes.push(cause);
    }
  }
  return causes;
}

const SCHEMA_FILES: Record<string, string> = {
  'snapshot.storage.k8s.io/volumesnapshots': 'volumesnapshot.schema.json',
  'snapshot.storage.k8s.io/volumesnapshotclasses': 'volumesnapshotclass.schema.json'
};

export function schemaFor(type: IResourceType): ISchema | undefined {
  const file = SCHEMA_FILES[`${type.group}/${type.plural}`];
  return file === undefined ? undefined : loadSchema(file);
}

/**
 * All causes for an object about to be stored (after defaulting). Prunes unknown fields of schema'd
 * custom resources in place, as the real server does.
 */
export function validateObject(type: IResourceType, obj: JsonObject): IStatusCause[] {
  const causes = metadataCauses(type, obj);
  const schema = schemaFor(type);
  if (schema !== undefined) {
    prune(schema, obj);
    causes.push(...validateAgainst(schema, obj));
  } else if (type.group === 'argoproj.io' && type.plural === 'workflows') {
    causes.push(...workflowCauses(obj));
  } else if (type.group === '' && type.plural === 'pods') {
    causes.push(...podCauses(obj));
  } else if (type.group === '' && type.plural === 'persistentvolumeclaims') {
    causes.push(...pvcCauses(obj));
  }
  return causes;
}
