/**
 * Syntax errors worded and placed as CPython 3.11/3.12 reports them, so that a user reads in the
 * sidebar what their own Python would say. @lezer/python finds that a cell does not parse (and
 * roughly where); this module then re-reads the cell the way CPython does: a tokenizer (strings,
 * brackets, indentation, characters), whose errors win as they do in CPython, then the checks of
 * CPython's second "invalid_" parser pass for the common mistakes (a missing `:`, a missing
 * indented block, a missing comma, `=` for `==`, `print x`), and finally "invalid syntax" on the
 * line where the parser gave up.
 */

export interface ISyntaxError {
  /** 1-based line, as CPython's `SyntaxError.lineno`. */
  line: number;
  /** CPython's message (`SyntaxError.msg`). */
  message: string;
}

/** A parser error, with the line of the furthest token CPython's parser read to find it. */
interface IParserError extends ISyntaxError {
  reach: number;
}

type TokenType = 'NAME' | 'NUMBER' | 'STRING' | 'OP' | 'NEWLINE' | 'INDENT' | 'DEDENT' | 'EOF';

interface IToken {
  type: TokenType;
  text: string;
  line: number;
  /** Bracket depth before the token. */
  depth: number;
}

interface IOpen {
  char: string;
  line: number;
  /** Index of the opening token. */
  token: number;
}

interface ITokenized {
  tokens: IToken[];
  /**
   * The tokenizer's error, if it stopped on one, and how many tokens it produced before.
   * A weak error (a bad line continuation, bad indentation) is only reported when the parser
   * reaches it; the others win over any parser error, as in CPython.
   */
  error: (ISyntaxError & { at: number; weak: boolean }) | null;
  /** The line CPython gives the end of the text. */
  eofLine: number;
  /** Brackets still open where the tokenizer stopped. */
  open: IOpen[];
}

const KEYWORDS: ReadonlySet<string> = new Set(
  (
    'False None True and as assert async await break class continue def del elif else except ' +
    'finally for from global if import in is lambda nonlocal not or pass raise return try while ' +
    'with yield'
  ).split(' ')
);

/** Keywords that are also values (they can end an expression). */
const VALUE_KEYWORDS: ReadonlySet<string> = new Set(['True', 'False', 'None']);

const OPERATORS = [
  '**=',
  '//=',
  '>>=',
  '<<=',
  '...',
  '->',
  ':=',
  '**',
  '//',
  '<<',
  '>>',
  '<=',
  '>=',
  '==',
  '!=',
  '+=',
  '-=',
  '*=',
  '/=',
  '%=',
  '&=',
  '|=',
  '^=',
  '@=',
  '+',
  '-',
  '*',
  '/',
  '%',
  '@',
  '&',
  '|',
  '^',
  '~',
  '<',
  '>',
  '=',
  '.',
  ',',
  ':',
  ';',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}'
];

/** Operators by length, longest first, for the tokenizer. */
const OPERATORS_BY_LENGTH: ReadonlySet<string>[] = [3, 2, 1].map(
  n => new Set(OPERATORS.filter(o => o.length === n))
);

/** The operator at `i` (longest match), or null. */
function operatorAt(text: string, i: number): string | null {
  for (let k = 0; k < 3; k++) {
    const op = text.slice(i, i + 3 - k);
    if (OPERATORS_BY_LENGTH[k].has(op)) {
      return op;
    }
  }
  return null;
}

/** `[A-Za-z_]` or any non-ASCII identifier start. */
function isIdStart(ch: string): boolean {
  const c = ch.charCodeAt(0);
  if (c < 128) {
    return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
  }
  return ID_START.test(ch);
}

/** `[A-Za-z0-9_]` or any non-ASCII identifier character. */
function isIdContinue(ch: string): boolean {
  const c = ch.charCodeAt(0);
  if (c < 128) {
    return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95;
  }
  return ID_CONTINUE.test(ch);
}

const CLOSER: Record<string, string> = { ')': '(', ']': '[', '}': '{' };

const ID_START = /[\p{L}\p{Nl}_]/u;
const ID_CONTINUE = /[\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}_]/u;
const STRING_PREFIX = /^(?:[rR][bBfF]?|[bBfF][rR]?|[uU])?$/;

/** CPython's tokenizer, as far as its errors go. */
function tokenize(text: string): ITokenized {
  const tokens: IToken[] = [];
  const open: IOpen[] = [];
  const indents = [0];
  const altIndents = [0];
  let line = 1;
  let i = 0;
  const n = text.length;
  let atLineStart = true;
  /** The logical line has produced a token (so its newline is a NEWLINE token). */
  let lineHasTokens = false;
  const push = (type: TokenType, tokenText: string, tokenLine = line): void => {
    tokens.push({ type, text: tokenText, line: tokenLine, depth: open.length });
  };
  /** The line count CPython reports when it meets the end of the text. */
  const lastLine = (): number => {
    const lines = text.split('\n').length;
    return text.endsWith('\n') ? lines - 1 : lines;
  };
  const fail = (message: string, errorLine = line, weak = false): ITokenized => ({
    tokens,
    error: { line: errorLine, message, at: tokens.length, weak },
    open,
    eofLine: lastLine()
  });
  const failWeak = (message: string): ITokenized => fail(message, line, true);

  while (i <= n) {
    if (atLineStart && open.length === 0) {
      // Measure indentation; blank and comment-only lines do not count.
      let col = 0;
      let alt = 0;
      let j = i;
      for (; j < n; j++) {
        const ch = text[j];
        if (ch === ' ') {
          col++;
          alt++;
        } else if (ch === '\t') {
          col = (Math.floor(col / 8) + 1) * 8;
          alt++;
        } else if (ch === '\f') {
          col = alt = 0;
        } else {
          break;
        }
      }
      const rest = text[j];
      if (j >= n || rest === '#' || rest === '\n' || rest === '\r' || rest === '\\') {
        if (j >= n) {
          i = j;
          atLineStart = false;
          continue;
        }
        if (rest === '\\') {
          atLineStart = false;
          i = j;
          continue;
        }
        // skip to end of line
        const end = text.indexOf('\n', j);
        if (end < 0) {
          i = n;
          atLineStart = false;
          continue;
        }
        i = end + 1;
        line++;
        continue;
      }
      const top = indents[indents.length - 1];
      if (col === top) {
        if (alt !== altIndents[altIndents.length - 1]) {
          return failWeak('inconsistent use of tabs and spaces in indentation');
        }
      } else if (col > top) {
        if (alt <= altIndents[altIndents.length - 1]) {
          return failWeak('inconsistent use of tabs and spaces in indentation');
        }
        indents.push(col);
        altIndents.push(alt);
        push('INDENT', '');
      } else {
        while (indents.length > 1 && col < indents[indents.length - 1]) {
          indents.pop();
          altIndents.pop();
          push('DEDENT', '');
        }
        if (col !== indents[indents.length - 1]) {
          return failWeak('unindent does not match any outer indentation level');
        }
        if (alt !== altIndents[altIndents.length - 1]) {
          return failWeak('inconsistent use of tabs and spaces in indentation');
        }
      }
      i = j;
      atLineStart = false;
    }
    if (i >= n) {
      break;
    }
    const ch = text[i];
    if (ch === ' ' || ch === '\t' || ch === '\f' || ch === '\r') {
      i++;
      continue;
    }
    if (ch === '#') {
      const end = text.indexOf('\n', i);
      i = end < 0 ? n : end;
      continue;
    }
    if (ch === '\n') {
      if (open.length === 0 && lineHasTokens) {
        push('NEWLINE', '');
        lineHasTokens = false;
      }
      i++;
      line++;
      atLineStart = open.length === 0; // a line inside brackets continues the logical line
      continue;
    }
    if (ch === '\\') {
      const next = text[i + 1];
      if (next === '\n') {
        i += 2;
        line++;
        continue;
      }
      if (next === '\r' && text[i + 2] === '\n') {
        i += 3;
        line++;
        continue;
      }
      if (next === undefined) {
        return failWeak('unexpected EOF while parsing');
      }
      return failWeak('unexpected character after line continuation character');
    }
    lineHasTokens = true;
    // Names, and string prefixes.
    if (isIdStart(ch)) {
      let j = i + 1;
      while (j < n && isIdContinue(text[j])) {
        j++;
      }
      const word = text.slice(i, j);
      if ((text[j] === '"' || text[j] === "'") && STRING_PREFIX.test(word)) {
        const startLine = line;
        const result = scanString(j);
        if (typeof result !== 'number') {
          return result;
        }
        push('STRING', text.slice(i, result), startLine);
        i = result;
        continue;
      }
      push('NAME', word);
      i = j;
      continue;
    }
    if (ch === '"' || ch === "'") {
      const startLine = line;
      const result = scanString(i);
      if (typeof result !== 'number') {
        return result;
      }
      push('STRING', text.slice(i, result), startLine);
      i = result;
      continue;
    }
    if ((ch >= '0' && ch <= '9') || (ch === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      const result = scanNumber(i);
      if (typeof result !== 'number') {
        return result;
      }
      push('NUMBER', text.slice(i, result));
      i = result;
      continue;
    }
    const op = operatorAt(text, i);
    if (op) {
      if (op === '(' || op === '[' || op === '{') {
        push('OP', op);
        open.push({ char: op, line, token: tokens.length - 1 });
      } else if (op === ')' || op === ']' || op === '}') {
        const top = open[open.length - 1];
        if (!top) {
          return fail(`unmatched '${op}'`);
        }
        if (top.char !== CLOSER[op]) {
          return fail(
            top.line === line
              ? `closing parenthesis '${op}' does not match opening parenthesis '${top.char}'`
              : `closing parenthesis '${op}' does not match opening parenthesis '${top.char}' on line ${top.line}`
          );
        }
        open.pop();
        push('OP', op);
      } else {
        push('OP', op);
      }
      i += op.length;
      continue;
    }
    if (ch.charCodeAt(0) >= 128) {
      const cp = ch.codePointAt(0)!;
      const glyph = String.fromCodePoint(cp);
      return fail(
        `invalid character '${glyph}' (U+${cp.toString(16).toUpperCase().padStart(4, '0')})`
      );
    }
    // `$`, `?`, `` ` ``, a lone `!`: an error token, which the parser rejects.
    push('OP', ch);
    i++;
  }
  if (open.length === 0 && lineHasTokens) {
    push('NEWLINE', '');
  }
  for (let k = indents.length - 1; k > 0; k--) {
    push('DEDENT', '');
  }
  push('EOF', '');
  return { tokens, error: null, open, eofLine: lastLine() };

  /** Scan a string literal whose quote is at `q`: the offset after it, or an error. */
  function scanString(q: number): number | ITokenized {
    const quote = text[q];
    const triple = text.startsWith(quote.repeat(3), q);
    const startLine = line;
    let j = q + (triple ? 3 : 1);
    for (;;) {
      if (j >= n) {
        return triple
          ? fail(
              `unterminated triple-quoted string literal (detected at line ${lastLine()})`,
              startLine
            )
          : fail(`unterminated string literal (detected at line ${line})`, startLine);
      }
      const c = text[j];
      if (c === '\\') {
        if (text[j + 1] === '\n') {
          line++;
        }
        j += 2;
        continue;
      }
      if (c === '\n') {
        if (!triple) {
          return fail(`unterminated string literal (detected at line ${line})`, startLine);
        }
        line++;
        j++;
        continue;
      }
      if (triple ? text.startsWith(quote.repeat(3), j) : c === quote) {
        return j + (triple ? 3 : 1);
      }
      j++;
    }
  }

  /** Scan a number starting at `s`: the offset after it, or an error. */
  function scanNumber(s: number): number | ITokenized {
    let j = s;
    const lower = text.slice(s, s + 2).toLowerCase();
    if (lower === '0x' || lower === '0o' || lower === '0b') {
      const digits = lower === '0x' ? /[0-9a-fA-F_]/ : lower === '0o' ? /[0-7_]/ : /[01_]/;
      j += 2;
      while (j < n && digits.test(text[j])) {
        j++;
      }
      if (j < n && ID_CONTINUE.test(text[j])) {
        const kind = lower === '0x' ? 'hexadecimal' : lower === '0o' ? 'octal' : 'binary';
        if (lower !== '0x' && /[0-9]/.test(text[j])) {
          return fail(`invalid digit '${text[j]}' in ${kind} literal`);
        }
        return fail(`invalid ${kind} literal`);
      }
      return j;
    }
    while (j < n && /[0-9_]/.test(text[j])) {
      j++;
    }
    const intPart = text.slice(s, j);
    let isFloat = false;
    if (text[j] === '.') {
      isFloat = true;
      j++;
      while (j < n && /[0-9_]/.test(text[j])) {
        j++;
      }
    }
    if ((text[j] === 'e' || text[j] === 'E') && /[-+0-9]/.test(text[j + 1] ?? '')) {
      isFloat = true;
      j += text[j + 1] === '-' || text[j + 1] === '+' ? 2 : 1;
      while (j < n && /[0-9_]/.test(text[j])) {
        j++;
      }
    }
    if (text[j] === 'j' || text[j] === 'J') {
      isFloat = true;
      j++;
    }
    if (!isFloat && /^0[0-9_]*[1-9]/.test(intPart)) {
      return fail(
        'leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers'
      );
    }
    if (j < n && ID_START.test(text[j])) {
      // `1if x else y` is allowed (with a warning) for the keywords that may follow a number.
      const word = /^[A-Za-z_]+/.exec(text.slice(j))?.[0] ?? '';
      if (!['and', 'or', 'in', 'is', 'if', 'else', 'for', 'not'].includes(word)) {
        return fail(isFloat ? 'invalid decimal literal' : 'invalid decimal literal');
      }
    }
    return j;
  }
}

/** What a block-opening statement is called in "expected an indented block after ...". */
function blockKind(first: IToken, second: IToken | undefined): string | null {
  const word = first.text === 'async' && second ? second.text : first.text;
  if (first.type !== 'NAME') {
    return null;
  }
  switch (word) {
    case 'def':
      return 'function definition';
    case 'class':
      return 'class definition';
    case 'if':
    case 'elif':
    case 'else':
    case 'while':
    case 'for':
    case 'with':
    case 'try':
    case 'except':
    case 'finally':
    case 'match':
    case 'case':
      return `'${word}' statement`;
    default:
      return null;
  }
}

/** Headers that need a `:` (`match` and `case` are soft keywords and are left out). */
const HEADERS: ReadonlySet<string> = new Set([
  'def',
  'class',
  'if',
  'elif',
  'else',
  'while',
  'for',
  'with',
  'try',
  'except',
  'finally'
]);

function endsExpression(t: IToken | undefined): boolean {
  if (!t) {
    return false;
  }
  if (t.type === 'NUMBER' || t.type === 'STRING') {
    return true;
  }
  if (t.type === 'NAME') {
    return !KEYWORDS.has(t.text) || VALUE_KEYWORDS.has(t.text);
  }
  return t.text === ')' || t.text === ']' || t.text === '}' || t.text === '...';
}

function startsAtom(t: IToken | undefined): boolean {
  if (!t) {
    return false;
  }
  if (t.type === 'NUMBER' || t.type === 'STRING') {
    return true;
  }
  return t.type === 'NAME' && (!KEYWORDS.has(t.text) || VALUE_KEYWORDS.has(t.text));
}

/** Soft keywords: names that start a statement when an expression follows. */
const SOFT_KEYWORDS: ReadonlySet<string> = new Set(['match', 'case', 'type', '_']);

/** Statements whose bracketed parts list names or targets, not expressions. */
const NAME_STATEMENTS: ReadonlySet<string> = new Set([
  'del',
  'from',
  'import',
  'global',
  'nonlocal'
]);

/** Tokens that end the expression before them (where `a` of `a = b` starts after). */
const SEPARATORS: ReadonlySet<string> = new Set(['(', '[', '{', ',', ':', '=', ':=', ';']);

/** The index of the first token of the expression that ends just before `end`. */
function expressionStart(tokens: IToken[], end: number): number {
  const depth = tokens[end].depth;
  let k = end - 1;
  while (k > 0) {
    const prev = tokens[k - 1];
    if (prev.depth < depth || prev.type === 'NEWLINE' || prev.type === 'INDENT') {
      break;
    }
    if (prev.depth === depth && prev.type === 'OP' && SEPARATORS.has(prev.text)) {
      break;
    }
    if (prev.depth === depth && prev.type === 'NAME' && KEYWORDS.has(prev.text)) {
      if (!VALUE_KEYWORDS.has(prev.text) && !['and', 'or', 'not', 'in', 'is'].includes(prev.text)) {
        break;
      }
    }
    k--;
  }
  return k;
}

/** Whether the `=` at `end` gives a default value in a lambda's parameters (`lambda a=1: a`). */
function inLambdaParameters(tokens: IToken[], end: number): boolean {
  const depth = tokens[end].depth;
  for (let k = end - 1; k >= 0; k--) {
    const t = tokens[k];
    if (t.depth < depth || t.type === 'NEWLINE' || t.type === 'INDENT') {
      return false;
    }
    if (t.depth === depth && t.type === 'OP' && t.text === ':') {
      return false;
    }
    if (t.depth === depth && t.type === 'NAME' && t.text === 'lambda') {
      return true;
    }
  }
  return false;
}

const COMPARISONS: ReadonlySet<string> = new Set(['<', '>', '<=', '>=', '==', '!=']);
const BINARY: ReadonlySet<string> = new Set([
  '+',
  '-',
  '*',
  '/',
  '//',
  '%',
  '@',
  '**',
  '&',
  '|',
  '^',
  '<<',
  '>>',
  '~'
]);

/** CPython's name for an expression that cannot be assigned to (`_PyPegen_get_expr_name`). */
function expressionName(tokens: IToken[], from: number, to: number): string {
  const part = tokens.slice(from, to);
  const depth = tokens[from].depth;
  const top = part.filter(t => t.depth === depth);
  if (top.some(t => t.type === 'NAME' && (t.text === 'in' || t.text === 'is'))) {
    return 'comparison';
  }
  if (top.some(t => t.type === 'OP' && COMPARISONS.has(t.text))) {
    return 'comparison';
  }
  if (top.some(t => t.type === 'NAME' && (t.text === 'and' || t.text === 'or'))) {
    return 'expression';
  }
  if (top.some((t, k) => t.type === 'OP' && BINARY.has(t.text) && k > 0)) {
    return 'expression';
  }
  const last = part[part.length - 1];
  if (part.length === 1 && (last.type === 'NUMBER' || last.type === 'STRING')) {
    return 'literal';
  }
  if (last.text === ')') {
    return 'function call';
  }
  if (last.text === ']') {
    return 'subscript';
  }
  if (part.length >= 3 && part[part.length - 2].text === '.') {
    return 'attribute';
  }
  return 'expression';
}

interface ILogicalLine {
  /** Token indices [from, to): the line's tokens, NEWLINE excluded. */
  from: number;
  to: number;
  /** Its block depth (INDENTs minus DEDENTs before it). */
  level: number;
}

/** Statements that continue the compound statement before them at the same level. */
const CONTINUATIONS: ReadonlyMap<string, string[]> = new Map([
  ['else', ['if', 'elif', 'for', 'while', 'try', 'except', 'async']],
  ['elif', ['if', 'elif']],
  ['except', ['try', 'except']],
  ['finally', ['try', 'except', 'else']]
]);

/** The first error CPython's parser reports, from the checks below, or null. */
function parserError(tokens: IToken[], limit: number, eofLine: number): IParserError | null {
  const lines: ILogicalLine[] = [];
  let from = 0;
  let level = 0;
  let lineLevel = 0;
  for (let k = 0; k < limit; k++) {
    const t = tokens[k];
    if (t.type === 'INDENT' || t.type === 'DEDENT') {
      level += t.type === 'INDENT' ? 1 : -1;
      if (k === from) {
        from = k + 1;
        lineLevel = level;
      }
      continue;
    }
    if (t.type === 'NEWLINE' || t.type === 'EOF') {
      if (k > from) {
        lines.push({ from, to: k, level: lineLevel });
      }
      from = k + 1;
      lineLevel = level;
    }
  }
  if (from < limit || (limit > 0 && tokens[limit - 1].type === 'INDENT')) {
    // the line the tokenizer stopped in (possibly before its first token)
    lines.push({ from, to: limit, level: lineLevel });
  }
  for (let l = 0; l < lines.length; l++) {
    const { from: a, to: b } = lines[l];
    // An indented line that no block opened.
    if (a > 0 && tokens[a - 1].type === 'INDENT') {
      const prevLine = lines[l - 1];
      const opened = prevLine && tokens[prevLine.to - 1].text === ':';
      if (!opened) {
        const at = tokens[a - 1].line;
        return { line: at, message: 'unexpected indent', reach: at };
      }
    }
    if (a >= b) {
      continue;
    }
    const first = tokens[a];
    // `else:` (and `elif`, `except`, `finally`) that continues no compound statement.
    const continues = first.type === 'NAME' ? CONTINUATIONS.get(first.text) : undefined;
    if (continues) {
      let p = l - 1;
      while (p >= 0 && lines[p].level > lines[l].level) {
        p--;
      }
      const sibling = p >= 0 && lines[p].level === lines[l].level ? tokens[lines[p].from] : null;
      if (!sibling || !continues.includes(sibling.text)) {
        return { line: first.line, message: 'invalid syntax', reach: first.line };
      }
    }
    // A decorator must be followed by a def or a class.
    if (first.text === '@' && lines[l + 1]) {
      const next = tokens[lines[l + 1].from];
      if (!['def', 'class', 'async', '@'].includes(next.text)) {
        return { line: next.line, message: 'invalid syntax', reach: next.line };
      }
    }
    const inline = lineError(tokens, a, b, tokens[b]?.type === 'NEWLINE');
    if (inline) {
      return inline;
    }
    // A block opener must be followed by an indented block.
    const last = tokens[b - 1];
    const kind = blockKind(first, tokens[a + 1]);
    if (first.text === 'try' && last.text === ':' && tokens[b + 1]?.type === 'INDENT') {
      const after = afterBlock(tokens, b + 1, limit);
      if (!(after?.type === 'NAME' && (after.text === 'except' || after.text === 'finally'))) {
        const at = after?.line ?? eofLine;
        return { line: at, message: "expected 'except' or 'finally' block", reach: at };
      }
    }
    if (kind && last.text === ':' && last.type === 'OP') {
      const next = tokens[b + 1];
      if (!next || next.type !== 'INDENT') {
        const header = first.line;
        const at =
          !next || next.type === 'EOF' || next.type === 'DEDENT'
            ? (tokens.slice(b + 1).find(t => t.type !== 'DEDENT' && t.type !== 'EOF')?.line ??
              eofLine)
            : next.line;
        return {
          line: at,
          message: `expected an indented block after ${kind} on line ${header}`,
          reach: at
        };
      }
    }
  }
  return null;
}

/** The first token after the indented block whose INDENT is at `indent`, or null at the end. */
function afterBlock(tokens: IToken[], indent: number, limit: number): IToken | null {
  let level = 0;
  for (let k = indent; k < limit; k++) {
    const t = tokens[k];
    if (t.type === 'INDENT') {
      level++;
    } else if (t.type === 'DEDENT') {
      level--;
      if (level === 0) {
        let m = k + 1;
        while (m < limit && tokens[m].type === 'DEDENT') {
          m++;
        }
        return m < limit && tokens[m].type !== 'EOF' ? tokens[m] : null;
      }
    }
  }
  return null;
}

type BracketKind = 'call' | 'params' | 'paren' | 'square' | 'brace';

/** Operators that cannot end a statement (an operand must follow). */
const NEEDS_OPERAND: ReadonlySet<string> = new Set([
  ...BINARY,
  ...COMPARISONS,
  '=',
  '.',
  '->',
  ':=',
  '+=',
  '-=',
  '*=',
  '/=',
  '//=',
  '%=',
  '**=',
  '>>=',
  '<<=',
  '&=',
  '|=',
  '^=',
  '@='
]);

/** Keywords that cannot end a statement. */
const NEEDS_MORE: ReadonlySet<string> = new Set([
  'and',
  'or',
  'not',
  'in',
  'is',
  'import',
  'from',
  'as',
  'del',
  'if',
  'elif',
  'while',
  'for',
  'with',
  'assert',
  'global',
  'nonlocal'
]);

/** Operators that cannot start a statement. */
const CANNOT_START: ReadonlySet<string> = new Set(
  [...NEEDS_OPERAND, ',', ':', ';', ')', ']', '}'].filter(
    o => !['-', '+', '~', '.', '@', '*'].includes(o)
  )
);

/**
 * Errors within one logical line (tokens [a, b)); `complete` when a NEWLINE ends it (not the
 * end of the text inside brackets, nor a tokenizer error).
 */
function lineError(tokens: IToken[], a: number, b: number, complete: boolean): IParserError | null {
  const head = tokens[a];
  if (head.type === 'OP' && CANNOT_START.has(head.text) && head.text !== '*') {
    return { line: head.line, message: 'invalid syntax', reach: head.line };
  }
  const tail = tokens[b - 1];
  if (complete && tail.depth === head.depth) {
    if (tail.type === 'OP' && tail.text === ',' && head.text === 'from') {
      return {
        line: tail.line,
        message: 'trailing comma not allowed without surrounding parentheses',
        reach: tail.line
      };
    }
    const starImport = tail.text === '*' && tokens[b - 2]?.text === 'import';
    const dangling =
      (tail.type === 'OP' && NEEDS_OPERAND.has(tail.text) && !starImport) ||
      (tail.type === 'NAME' && NEEDS_MORE.has(tail.text)) ||
      (tail.type === 'OP' && tail.text === ',' && ['import', 'del', 'global'].includes(head.text));
    if (dangling) {
      return { line: tail.line, message: 'invalid syntax', reach: tail.line };
    }
  }
  const lineOf = (k: number): number => tokens[Math.min(k, b - 1)].line;
  const first = tokens[a];
  const depth0 = first.depth;
  const isHeader =
    first.type === 'NAME' &&
    (HEADERS.has(first.text) ||
      (first.text === 'async' && ['def', 'for', 'with'].includes(tokens[a + 1]?.text)));
  // `print x`, `exec "code"`.
  if (
    first.type === 'NAME' &&
    (first.text === 'print' || first.text === 'exec') &&
    startsAtom(tokens[a + 1]) &&
    a + 1 < b
  ) {
    return {
      line: first.line,
      message: `Missing parentheses in call to '${first.text}'. Did you mean ${first.text}(...)?`,
      reach: lineOf(a + 2)
    };
  }
  /** Kinds of the brackets open within the line. */
  const calls: BracketKind[] = [];
  /** Lambdas whose `:` is still to come, by bracket depth. */
  const lambdas = new Map<number, number>();
  for (let k = a; k < b; k++) {
    const t = tokens[k];
    const prev = tokens[k - 1];
    if (t.type === 'OP' && (t.text === '(' || t.text === '[' || t.text === '{')) {
      const isCall = t.text === '(' && k > a && endsExpression(prev);
      const isParams = isCall && k - 2 >= a && tokens[k - 2].text === 'def';
      const plain: BracketKind = t.text === '(' ? 'paren' : t.text === '[' ? 'square' : 'brace';
      calls.push(isParams ? 'params' : isCall ? 'call' : plain);
      continue;
    }
    if (t.type === 'OP' && (t.text === ')' || t.text === ']' || t.text === '}')) {
      calls.pop();
      continue;
    }
    const inBrackets = t.depth > depth0;
    if (t.type === 'NAME' && t.text === 'lambda') {
      lambdas.set(t.depth, (lambdas.get(t.depth) ?? 0) + 1);
    }
    // A colon inside parentheses that ends no lambda's parameters (`class A(B:`, `f(:`);
    // slices `x[:]`, dicts and parameter annotations `def f(x: int)` are fine.
    if (t.type === 'OP' && t.text === ':' && inBrackets) {
      const kind = calls[calls.length - 1];
      const pending = lambdas.get(t.depth) ?? 0;
      if (pending > 0) {
        lambdas.set(t.depth, pending - 1);
      } else if (
        kind === 'call' ||
        kind === 'paren' ||
        (kind === 'params' &&
          !(prev.type === 'NAME' && ['(', ',', '*', '**'].includes(tokens[k - 2]?.text)))
      ) {
        return { line: t.line, message: 'invalid syntax', reach: t.line };
      }
    }
    // Two expressions side by side outside brackets: `"" Text`, `x y` (soft keywords
    // `match x:`, `case y:`, `type X = ...` start statements).
    if (
      !inBrackets &&
      k > a &&
      endsExpression(prev) &&
      startsAtom(t) &&
      !(prev.type === 'STRING' && t.type === 'STRING') &&
      !(k === a + 1 && SOFT_KEYWORDS.has(prev.text))
    ) {
      return { line: t.line, message: 'invalid syntax', reach: t.line };
    }
    // Two expressions side by side inside brackets: a missing comma (but names in `del`,
    // `import` and `global` statements are not expressions).
    if (inBrackets && k > a && endsExpression(prev) && startsAtom(t)) {
      if (prev.type === 'STRING' && t.type === 'STRING') {
        continue; // implicit concatenation
      }
      if (first.type === 'NAME' && NAME_STATEMENTS.has(first.text)) {
        return { line: t.line, message: 'invalid syntax', reach: t.line };
      }
      const start = expressionStart(tokens, k);
      const s = tokens[start];
      const legacy = s.type === 'NAME' && (s.text === 'print' || s.text === 'exec');
      const soft = s.type === 'NAME' && ['match', 'case', '_', 'type'].includes(s.text);
      const nameString = s.type === 'NAME' && tokens[start + 1]?.type === 'STRING';
      const params = calls[calls.length - 1] === 'params';
      if (legacy || soft || nameString || params || start >= k) {
        return { line: t.line, message: 'invalid syntax', reach: t.line };
      }
      return {
        line: s.line,
        message: 'invalid syntax. Perhaps you forgot a comma?',
        reach: lineOf(k + 1)
      };
    }
    // `=` where an expression is expected: inside brackets (not a keyword argument) or in
    // the condition of if/elif/while.
    if (t.type === 'OP' && t.text === '=') {
      if (inBrackets && calls[calls.length - 1] === 'params') {
        continue; // a default value
      }
      if (inLambdaParameters(tokens, k)) {
        continue; // a lambda's default value: `(lambda a=1: a)`
      }
      const inCall = inBrackets && calls[calls.length - 1] === 'call';
      const inCondition =
        !inBrackets &&
        first.type === 'NAME' &&
        ['if', 'elif', 'while'].includes(first.text) &&
        !tokens.slice(a, k).some(x => x.depth === depth0 && x.text === ':');
      if (!inBrackets && !inCondition) {
        continue;
      }
      const start = expressionStart(tokens, k);
      const s = tokens[start];
      if (inCall) {
        if (k - start === 1 && s.type === 'NAME') {
          continue; // keyword argument
        }
        return {
          line: s.line,
          message: 'expression cannot contain assignment, perhaps you meant "=="?',
          reach: lineOf(k + 1)
        };
      }
      const after = tokens[k + 1];
      if (after && (after.text === '=' || after.text === ':=')) {
        continue;
      }
      if (k - start === 1 && s.type === 'NAME' && !KEYWORDS.has(s.text)) {
        return {
          line: s.line,
          message: "invalid syntax. Maybe you meant '==' or ':=' instead of '='?",
          reach: lineOf(k + 2)
        };
      }
      if ((k - start === 1 && VALUE_KEYWORDS.has(s.text)) || s.text === '(' || s.text === '[') {
        return { line: t.line, message: 'invalid syntax', reach: t.line };
      }
      return {
        line: s.line,
        message: `cannot assign to ${expressionName(tokens, start, k)} here. Maybe you meant '==' instead of '='?`,
        reach: lineOf(k + 2)
      };
    }
  }
  // A compound statement's header without its `:`.
  const second = tokens[a + 1];
  const opensHeader =
    second !== undefined &&
    (second.type !== 'OP' || ['(', '[', '{', '-', '+', '~', '*', ':'].includes(second.text));
  if (isHeader && complete && !tokens.slice(a, b).some(t => t.depth === depth0 && t.text === ':')) {
    for (let k = a + 1; k < b; k++) {
      const t = tokens[k];
      if (!opensHeader || (t.depth === depth0 && endsExpression(tokens[k - 1]) && startsAtom(t))) {
        return { line: t.line, message: 'invalid syntax', reach: t.line };
      }
    }
    return { line: tokens[b - 1].line, message: "expected ':'", reach: tokens[b - 1].line };
  }
  return null;
}

/**
 * The error CPython would report for `text`; `parserLine` is the line of @lezer/python's first
 * error, or null when it parsed the text. Null when nothing is found to be wrong.
 */
export function pythonSyntaxError(
  text: string,
  parser: { line: number; atEnd: boolean } | null
): ISyntaxError | null {
  const { tokens, error, open, eofLine } = tokenize(text);
  const limit = error ? error.at : tokens.length;
  const parsed = parserError(tokens, limit, eofLine);
  if (parsed?.message === 'unexpected indent') {
    return { line: parsed.line, message: parsed.message };
  }
  // A weak tokenizer error counts only if the parser reaches it.
  const before = parsed ?? (parser ? { line: parser.line, message: 'invalid syntax' } : null);
  if (before && error?.weak && before.line < error.line) {
    return { line: before.line, message: before.message };
  }
  if (error) {
    // CPython tokenizes the rest of the source after a parser error: tokenizer errors win.
    return { line: error.line, message: error.message };
  }
  if (parsed === null && parser === null && open.length === 0) {
    return null;
  }
  // The parser ran into the end of the text inside brackets, or read past the line of the
  // innermost open bracket before failing: CPython then blames the bracket.
  const unclosed = open[open.length - 1];
  const atEnd = parsed === null && (parser === null || parser.atEnd);
  const reach = parsed ? parsed.reach : (parser?.line ?? 0);
  if (unclosed && (atEnd || reach > unclosed.line)) {
    return { line: unclosed.line, message: `'${unclosed.char}' was never closed` };
  }
  if (parsed) {
    return { line: parsed.line, message: parsed.message };
  }
  return { line: parser?.line ?? tokens[tokens.length - 1].line, message: 'invalid syntax' };
}
