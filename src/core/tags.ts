/**
 * Kale's cell-tag vocabulary, read as Kale reads it, plus the few tags Chard adds
 * (`image:`, `cache:`, `secret:`). Tags outside the vocabulary are ignored (and preserved
 * when Chard writes tags).
 */
import type { ISecretRef } from './plan.js';

/** What a cell is, from its tags. `continue` = untagged: joins whatever came before. */
export type CellRole =
  | 'step'
  | 'continue'
  | 'skip'
  | 'imports'
  | 'functions'
  | 'pipeline-parameters'
  | 'pipeline-metrics';

export interface ITagProblem {
  tag: string;
  message: string;
}

export interface ICellTags {
  role: CellRole;
  /** For role `step`: the step name (from `step:` or the legacy `block:`). */
  step?: string;
  /** Every step name given on the cell (more than one is an error). */
  stepNames: string[];
  /** `prev:NAME` tags, in order. */
  prev: string[];
  limits: Record<string, string>;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  image?: string;
  cache?: boolean;
  secrets: ISecretRef[];
  /** True when the legacy `block:` form was used. */
  legacyBlock: boolean;
  /** Problems with tags of the vocabulary (malformed values); unknown tags are not problems. */
  problems: ITagProblem[];
}

const SPECIAL_ROLES: ReadonlySet<string> = new Set([
  'skip',
  'imports',
  'functions',
  'pipeline-parameters',
  'pipeline-metrics'
]);

/** Kubernetes qualified-name (optionally prefixed) as used for label and annotation keys. */
const K8S_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
/** Kale's limit tag: `limit:KEY:VALUE`. */
const LIMIT_KEY = /^[_a-z][-_a-z0-9./]*$/;
const LIMIT_VALUE = /^[_a-zA-Z0-9.]+$/;
const SECRET_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A step name Chard accepts: Kale's `[_a-z][_a-z0-9]*` and more. Any printable text without
 * surrounding spaces, up to 128 characters, with at least one letter or digit (so a
 * Kubernetes name can be derived). It travels as data everywhere, never as code.
 */
export function stepNameProblem(name: string): string | null {
  if (name.length === 0) {
    return 'the step name is empty';
  }
  if (name.length > 128) {
    return 'the step name is longer than 128 characters';
  }
  if (name.trim() !== name) {
    return 'the step name starts or ends with white space';
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) {
    return 'the step name contains a control character';
  }
  if (!/[\p{L}\p{N}]/u.test(name)) {
    return 'the step name has no letter or digit';
  }
  return null;
}

/** Split `kind:rest` once; returns null when there is no colon. */
function splitOnce(tag: string): [string, string] | null {
  const at = tag.indexOf(':');
  return at < 0 ? null : [tag.slice(0, at), tag.slice(at + 1)];
}

/** Parse one cell's tags. Never throws. */
export function parseCellTags(tags: readonly string[]): ICellTags {
  const result: ICellTags = {
    role: 'continue',
    stepNames: [],
    prev: [],
    limits: {},
    labels: {},
    annotations: {},
    secrets: [],
    legacyBlock: false,
    problems: []
  };
  let special: CellRole | null = null;
  for (const raw of tags) {
    const tag = raw.trim();
    if (SPECIAL_ROLES.has(tag)) {
      // As in Kale: the first special tag decides the cell's role.
      special ??= tag as CellRole;
      continue;
    }
    const parts = splitOnce(tag);
    if (!parts) {
      continue; // not ours (e.g. papermill's `parameters`, `hide-input`)
    }
    const [kind, rest] = parts;
    switch (kind) {
      case 'step':
      case 'block': {
        if (kind === 'block') {
          result.legacyBlock = true;
        }
        // `step:` with an empty name is an untagged cell, as in Kale; `block:imports` and the
        // like are the special tags themselves (Kale compares the step name with them).
        if (SPECIAL_ROLES.has(rest)) {
          special ??= rest as CellRole;
        } else if (rest.length > 0 && !result.stepNames.includes(rest)) {
          result.stepNames.push(rest);
        }
        break;
      }
      case 'prev':
        if (rest.length === 0) {
          result.problems.push({ tag, message: '`prev:` needs a step name' });
        } else if (!result.prev.includes(rest)) {
          result.prev.push(rest);
        }
        break;
      case 'limit': {
        const kv = splitOnce(rest);
        if (!kv || !LIMIT_KEY.test(kv[0]) || !LIMIT_VALUE.test(kv[1])) {
          result.problems.push({
            tag,
            message:
              'a limit tag is `limit:KEY:VALUE`, e.g. `limit:nvidia.com/gpu:1` or `limit:memory:4Gi`'
          });
        } else {
          result.limits[kv[0]] = kv[1];
        }
        break;
      }
      case 'label':
      case 'annotation': {
        const kv = splitOnce(rest);
        if (!kv || !K8S_KEY.test(kv[0]) || kv[0].length > 316) {
          result.problems.push({
            tag,
            message: `a ${kind} tag is \`${kind}:KEY:VALUE\` with a Kubernetes key (e.g. \`${kind}:team/owner:data\`)`
          });
        } else if (kind === 'label') {
          result.labels[kv[0]] = kv[1];
        } else {
          result.annotations[kv[0]] = kv[1];
        }
        break;
      }
      case 'image':
        if (rest.length === 0 || /\s/.test(rest)) {
          result.problems.push({ tag, message: 'an image tag is `image:REF` with no spaces' });
        } else {
          result.image = rest;
        }
        break;
      case 'cache':
        if (rest === 'enabled' || rest === 'disabled') {
          result.cache = rest === 'enabled';
        } else {
          result.problems.push({
            tag,
            message: 'a cache tag is `cache:enabled` or `cache:disabled`'
          });
        }
        break;
      case 'secret': {
        const bits = rest.split(':');
        if (
          bits.length !== 3 ||
          !SECRET_NAME.test(bits[0]) ||
          bits[1].length === 0 ||
          !ENV_NAME.test(bits[2])
        ) {
          result.problems.push({
            tag,
            message:
              'a secret tag is `secret:SECRET:KEY:ENV`, e.g. `secret:s3-creds:access-key:AWS_ACCESS_KEY_ID`'
          });
        } else {
          result.secrets.push({ secret: bits[0], key: bits[1], env: bits[2] });
        }
        break;
      }
      default:
        break; // not ours
    }
  }
  if (special) {
    result.role = special;
  } else if (result.stepNames.length > 0) {
    result.role = 'step';
    result.step = result.stepNames[0];
  }
  return result;
}

/** Is this tag part of the step-definition vocabulary Chard owns (and rewrites in the editor)? */
export function isStepDefinitionTag(tag: string): boolean {
  const t = tag.trim();
  if (SPECIAL_ROLES.has(t)) {
    return true;
  }
  const parts = splitOnce(t);
  return parts !== null && ['step', 'block', 'prev'].includes(parts[0]);
}

export interface IStepTagEdit {
  /** The role to give the cell; `continue` removes step-definition tags. */
  role: CellRole;
  /** For role `step`. */
  step?: string;
  /** For role `step`: parent step names. */
  prev?: string[];
}

/**
 * Compute a cell's new tag list for an edit made in the editor. Writes `step:` (never
 * `block:`); keeps every tag Chard does not own, in its original order, and keeps the
 * resource tags (`limit:`, `label:` ...) as they are.
 */
export function applyStepTagEdit(tags: readonly string[], edit: IStepTagEdit): string[] {
  const kept = tags.filter(t => !isStepDefinitionTag(t));
  const added: string[] = [];
  if (edit.role === 'step') {
    if (!edit.step) {
      throw new Error('a step edit needs a step name');
    }
    added.push(`step:${edit.step}`);
    for (const p of edit.prev ?? []) {
      added.push(`prev:${p}`);
    }
  } else if (edit.role !== 'continue') {
    added.push(edit.role);
  }
  return [...added, ...kept];
}
