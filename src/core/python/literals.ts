/**
 * The two cells whose content Chard reads as data: `pipeline-parameters` (`NAME = literal`
 * lines) and `pipeline-metrics` (`print(name)` lines).
 */
import type { SyntaxNode } from '@lezer/common';
import { parser } from '@lezer/python';
import type { ParameterType, ParameterValue } from '../plan.js';
import { completeTrailingDotFloats } from './floats.js';

export interface IParsedParameter {
  name: string;
  type: ParameterType;
  value: ParameterValue;
  line: number;
}

export interface ILineProblem {
  line: number;
  message: string;
}

function lineOf(text: string, pos: number): number {
  let line = 1;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
    }
  }
  return line;
}

function kids(node: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let c = node.firstChild; c; c = c.nextSibling) {
    out.push(c);
  }
  return out;
}

/** Top-level statements, flattening `a = 1; b = 2` groups. */
function statements(top: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (const c of kids(top)) {
    if (c.name === 'StatementGroup') {
      out.push(...kids(c).filter(k => k.name !== ';'));
    } else if (c.name !== 'Comment') {
      out.push(c);
    }
  }
  return out;
}

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\n': ''
};

/** Evaluate one Python string literal token (no f-strings, no bytes). */
export function evalStringLiteral(token: string): string | null {
  const m = /^([rRuU]?)('''|"""|'|")([\s\S]*)\2$/.exec(token);
  if (!m) {
    return null;
  }
  const raw = m[1].toLowerCase() === 'r';
  const body = m[3];
  if (raw) {
    return body;
  }
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const next = body[i + 1];
    if (next === undefined) {
      return null;
    }
    if (next in SIMPLE_ESCAPES) {
      out += SIMPLE_ESCAPES[next];
      i++;
    } else if (/[0-7]/.test(next)) {
      const oct = /^[0-7]{1,3}/.exec(body.slice(i + 1))![0];
      out += String.fromCodePoint(parseInt(oct, 8));
      i += oct.length;
    } else if (next === 'x' || next === 'u' || next === 'U') {
      const len = next === 'x' ? 2 : next === 'u' ? 4 : 8;
      const hex = body.slice(i + 2, i + 2 + len);
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) {
        return null;
      }
      const code = parseInt(hex, 16);
      if (code > 0x10ffff) {
        return null;
      }
      out += String.fromCodePoint(code);
      i += 1 + len;
    } else {
      // Python keeps unknown escapes as they are (`\d` stays `\d`); `\N{...}` is not supported.
      if (next === 'N') {
        return null;
      }
      out += ch;
    }
  }
  return out;
}

function evalNumber(
  text: string,
  negative: boolean
): { type: ParameterType; value: number } | null {
  const t = text.replace(/_/g, '');
  let value: number;
  let type: ParameterType;
  if (/^0[xX][0-9a-fA-F]+$/.test(t) || /^0[oO][0-7]+$/.test(t) || /^0[bB][01]+$/.test(t)) {
    value = Number(t.toLowerCase().replace(/^0o/, '0o'));
    type = 'int';
  } else if (/^(0+|[1-9][0-9]*)$/.test(t)) {
    value = Number(t);
    type = 'int';
  } else if (/^([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][+-]?[0-9]+)?$/.test(t)) {
    value = Number(t);
    type = 'float';
  } else {
    return null;
  }
  if (!Number.isFinite(value) || (type === 'int' && !Number.isSafeInteger(value))) {
    return null;
  }
  return { type, value: negative ? -value : value };
}

/** The literal value of an expression node, or null when it is not a supported literal. */
function literal(
  text: string,
  node: SyntaxNode
): { type: ParameterType; value: ParameterValue } | null {
  const src = text.slice(node.from, node.to);
  switch (node.name) {
    case 'Number':
      return evalNumber(src, false);
    case 'Boolean':
      return { type: 'bool', value: src === 'True' };
    case 'String': {
      const value = evalStringLiteral(src);
      return value === null ? null : { type: 'str', value };
    }
    case 'ContinuedString': {
      let value = '';
      for (const part of kids(node)) {
        const piece =
          part.name === 'String' ? evalStringLiteral(text.slice(part.from, part.to)) : null;
        if (piece === null) {
          return null;
        }
        value += piece;
      }
      return { type: 'str', value };
    }
    case 'UnaryExpression': {
      const [op, operand] = kids(node);
      const sign = op ? text.slice(op.from, op.to) : '';
      if ((sign === '-' || sign === '+') && operand?.name === 'Number') {
        return evalNumber(text.slice(operand.from, operand.to), sign === '-');
      }
      return null;
    }
    case 'ParenthesizedExpression': {
      const inner = kids(node).find(k => k.name !== '(' && k.name !== ')');
      return inner ? literal(text, inner) : null;
    }
    default:
      return null;
  }
}

const PARAMETER_HELP =
  'a pipeline parameter is `NAME = value` with an int, float, str or bool literal (e.g. `learning_rate = 0.01`)';

/** Read a `pipeline-parameters` cell. */
export function parseParameters(cellSource: string): {
  parameters: IParsedParameter[];
  problems: ILineProblem[];
} {
  const source = completeTrailingDotFloats(cellSource);
  const parameters: IParsedParameter[] = [];
  const problems: ILineProblem[] = [];
  const tree = parser.parse(source);
  for (const stmt of statements(tree.topNode)) {
    const line = lineOf(source, stmt.from);
    if (stmt.type.isError || stmt.name !== 'AssignStatement') {
      problems.push({ line, message: PARAMETER_HELP });
      continue;
    }
    const parts = kids(stmt).filter(k => k.name !== 'TypeDef');
    if (
      parts.length !== 3 ||
      parts[0].name !== 'VariableName' ||
      parts[1].name !== 'AssignOp' ||
      source.slice(parts[1].from, parts[1].to) !== '='
    ) {
      problems.push({ line, message: PARAMETER_HELP });
      continue;
    }
    const name = source.slice(parts[0].from, parts[0].to);
    const value = literal(source, parts[2]);
    if (!value || hasError(parts[2])) {
      problems.push({
        line,
        message: `\`${name}\` is not set to a literal: ${PARAMETER_HELP}`
      });
      continue;
    }
    const previous = parameters.findIndex(p => p.name === name);
    if (previous >= 0) {
      parameters.splice(previous, 1);
    }
    parameters.push({ name, type: value.type, value: value.value, line });
  }
  return { parameters, problems };
}

function hasError(node: SyntaxNode): boolean {
  let found = false;
  node.toTree().iterate({
    enter: n => {
      if (n.type.isError) {
        found = true;
      }
      return !found;
    }
  });
  return found;
}

/** Read a `pipeline-metrics` cell: `print(name)` lines, as Kale does. */
export function parseMetrics(source: string): {
  metrics: { name: string; line: number }[];
  problems: ILineProblem[];
} {
  const metrics: { name: string; line: number }[] = [];
  const problems: ILineProblem[] = [];
  const tree = parser.parse(source);
  for (const stmt of statements(tree.topNode)) {
    const line = lineOf(source, stmt.from);
    const call = stmt.name === 'ExpressionStatement' ? stmt.firstChild : null;
    const callee = call?.name === 'CallExpression' ? call.firstChild : null;
    const args = call ? kids(call).find(k => k.name === 'ArgList') : undefined;
    const argNodes = args ? kids(args).filter(k => k.name !== '(' && k.name !== ')') : [];
    if (
      !callee ||
      callee.name !== 'VariableName' ||
      source.slice(callee.from, callee.to) !== 'print' ||
      argNodes.length !== 1 ||
      argNodes[0].name !== 'VariableName'
    ) {
      problems.push({
        line,
        message:
          'a pipeline-metrics cell holds only `print(name)` lines, one variable each (e.g. `print(accuracy)`)'
      });
      continue;
    }
    const name = source.slice(argNodes[0].from, argNodes[0].to);
    if (!metrics.some(m => m.name === name)) {
      metrics.push({ name, line });
    }
  }
  return { metrics, problems };
}
