/**
 * Label selectors (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`) and field
 * selectors (`metadata.name=x`, `status.phase!=Running`) as the API server parses them.
 */
import { JsonObject } from './resources.js';
import { badRequest } from './status.js';

export type Selector = (obj: JsonObject) => boolean;

interface IRequirement {
  key: string;
  op: 'eq' | 'ne' | 'in' | 'notin' | 'exists' | 'notexists';
  values: string[];
}

/** Split on commas that are not inside parentheses. */
function splitTerms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') {
      depth += 1;
    } else if (ch === ')') {
      depth -= 1;
    }
    if (ch === ',' && depth === 0) {
      out.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  out.push(current);
  return out.map(s => s.trim()).filter(s => s !== '');
}

function parseRequirement(term: string): IRequirement {
  let m = /^([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
  if (m) {
    const values = m[3]
      .split(',')
      .map(v => v.trim())
      .filter(v => v !== '');
    return { key: m[1], op: m[2] === 'in' ? 'in' : 'notin', values };
  }
  m = /^([^\s!=()]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/.exec(term);
  if (m) {
    return { key: m[1], op: m[2] === '!=' ? 'ne' : 'eq', values: [m[3]] };
  }
  m = /^!\s*([^\s!=()]+)$/.exec(term);
  if (m) {
    return { key: m[1], op: 'notexists', values: [] };
  }
  m = /^([^\s!=()]+)$/.exec(term);
  if (m) {
    return { key: m[1], op: 'exists', values: [] };
  }
  throw badRequest(
    `unable to parse requirement: found '${term}', expected: in, notin, =, ==, !=, gt, lt`
  );
}

function matches(req: IRequirement, value: string | undefined): boolean {
  switch (req.op) {
    case 'eq':
      return value === req.values[0];
    case 'ne':
      return value !== req.values[0];
    case 'in':
      return value !== undefined && req.values.includes(value);
    case 'notin':
      return value === undefined || !req.values.includes(value);
    case 'exists':
      return value !== undefined;
    case 'notexists':
      return value === undefined;
  }
}

function stringMap(value: unknown): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'string') {
      out[k] = v;
    }
  }
  return out;
}

export function labelSelector(text: string | null): Selector {
  if (text === null || text.trim() === '') {
    return () => true;
  }
  const reqs = splitTerms(text).map(parseRequirement);
  return obj => {
    const meta = obj.metadata as JsonObject | undefined;
    const labels = stringMap(meta?.labels);
    return reqs.every(r => matches(r, labels[r.key]));
  };
}

function fieldValue(obj: JsonObject, path: string): string | undefined {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) {
      return undefined;
    }
    cur = (cur as JsonObject)[part];
  }
  if (typeof cur === 'string') {
    return cur;
  }
  if (typeof cur === 'number' || typeof cur === 'boolean') {
    return String(cur);
  }
  return undefined;
}

/** `allowed`: the field labels the resource supports (others are a 400, as on a real server). */
export function fieldSelector(text: string | null, allowed: string[]): Selector {
  if (text === null || text.trim() === '') {
    return () => true;
  }
  const reqs = splitTerms(text).map(term => {
    const req = parseRequirement(term);
    if (req.op !== 'eq' && req.op !== 'ne') {
      throw badRequest(`invalid selector: '${text}'; can't understand '${term}'`);
    }
    if (!allowed.includes(req.key)) {
      throw badRequest(`field label not supported: ${req.key}`);
    }
    return req;
  });
  return obj => reqs.every(r => matches(r, fieldValue(obj, r.key) ?? ''));
}
