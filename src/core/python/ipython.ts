/**
 * IPython syntax -> plain Python, for analysis only (the runtime executes the real cell).
 * Every line keeps its line number, so diagnostics point at the user's own lines.
 *
 * - `%%magic` cells: the body is analysed when the magic runs Python (`%%time`, `%%capture` ...),
 *   otherwise the whole cell is ignored (`%%bash`, `%%writefile`, `%%html` ...).
 * - `%time y = f(x)` / `%timeit` / `%prun`: the statement after the magic is analysed.
 * - other line magics, `!cmd`, `obj?`, `?obj`: become `pass` (they read and define nothing).
 * - `x = !cmd`, `x = %sx cmd`, `x = %magic ...`: `x` is defined.
 */

/** Cell magics whose body is Python code. */
const PYTHON_CELL_MAGICS: ReadonlySet<string> = new Set([
  'time',
  'timeit',
  'capture',
  'prun',
  'python',
  'python3',
  'debug',
  'memit',
  'mprun',
  'skip',
  'cache'
]);

/** Line magics whose argument is a Python statement. */
const STATEMENT_LINE_MAGICS: ReadonlySet<string> = new Set([
  'time',
  'timeit',
  'prun',
  'memit',
  'debug'
]);

export interface IPreprocessed {
  /** Python text with the same number of lines as the input. */
  code: string;
  /** The cell magic name when the cell is `%%name` and its body is not Python; null otherwise. */
  ignoredCellMagic: string | null;
  /**
   * 1-based lines that held a line magic configuring the session (`%matplotlib inline`,
   * `%load_ext x`): they read and define nothing (shell lines and `%time stmt` are not listed).
   */
  magicLines: number[];
  /** True when a magic may define names Chard cannot see (`%run script.py`, `%store -r`). */
  dynamic: boolean;
}

/** Line magics that bring names into the namespace. */
const DEFINING_LINE_MAGICS: ReadonlySet<string> = new Set(['run', 'store', 'load', 'macro']);

/** Replace a line by `pass` (keeping its indentation so blocks stay valid). */
function passLine(indent: string): string {
  return `${indent}pass`;
}

/**
 * Scan state carried across lines: inside a triple-quoted string, or inside brackets
 * (a continuation line). Lines that start inside either are never IPython syntax.
 */
interface IScanState {
  triple: '' | "'''" | '"""';
  depth: number;
}

/** Advance the scan state over one line of (already transformed) Python. */
function scanLine(line: string, state: IScanState): void {
  let i = 0;
  const n = line.length;
  while (i < n) {
    if (state.triple) {
      const end = line.indexOf(state.triple, i);
      if (end < 0) {
        return;
      }
      // an escaped quote right before does not end it; good enough for analysis purposes
      i = end + 3;
      state.triple = '';
      continue;
    }
    const ch = line[i];
    if (ch === '#') {
      return;
    }
    if (ch === '"' || ch === "'") {
      const three = line.slice(i, i + 3);
      if (three === '"""' || three === "'''") {
        state.triple = three;
        i += 3;
        continue;
      }
      // single-quoted string: skip to its end on this line
      i++;
      while (i < n && line[i] !== ch) {
        i += line[i] === '\\' ? 2 : 1;
      }
      i++;
      continue;
    }
    if (ch === '(' || ch === '[' || ch === '{') {
      state.depth++;
    } else if ((ch === ')' || ch === ']' || ch === '}') && state.depth > 0) {
      state.depth--;
    }
    i++;
  }
}

const ASSIGN_SHELL = /^(\s*)([A-Za-z_][A-Za-z0-9_]*(?:\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*)\s*=\s*[!%]/;
const LINE_MAGIC = /^(\s*)%%?([A-Za-z_][\w-]*)(.*)$/;
/** `obj?`, `obj.attr??`, `?obj`: help requests (no quotes or comments, which could hold a `?`). */
const HELP = /^\s*(\?\??[^'"#]+|[^'"#]+\?\??)\s*$/;

/** Transform one cell's IPython source into analysable Python. */
export function preprocessIPython(source: string): IPreprocessed {
  if (!/[%!?]/.test(source)) {
    // no magic, shell line or help request
    return { code: source, ignoredCellMagic: null, magicLines: [], dynamic: false };
  }
  const lines = source.split('\n');
  let start = 0;
  // A cell magic must be the first non-blank line.
  while (start < lines.length && lines[start].trim() === '') {
    start++;
  }
  if (start < lines.length && lines[start].startsWith('%%')) {
    const name = /^%%([A-Za-z_][A-Za-z0-9_]*)/.exec(lines[start])?.[1] ?? '';
    if (!PYTHON_CELL_MAGICS.has(name)) {
      return {
        code: lines.map(() => '').join('\n'),
        ignoredCellMagic: name || '%%',
        magicLines: [],
        dynamic: false
      };
    }
    const rest = preprocessIPython(lines.slice(start + 1).join('\n'));
    const head = lines.slice(0, start + 1).map(() => '');
    return {
      code: [...head, rest.code].join('\n'),
      ignoredCellMagic: rest.ignoredCellMagic,
      magicLines: rest.magicLines.map(l => l + start + 1),
      dynamic: rest.dynamic
    };
  }
  const state: IScanState = { triple: '', depth: 0 };
  const out: string[] = [];
  const magicLines: number[] = [];
  let dynamic = false;
  lines.forEach((line, i) => {
    let result = line;
    if (!state.triple && state.depth === 0) {
      const magic = LINE_MAGIC.exec(line);
      if (magic && !ASSIGN_SHELL.test(line) && !STATEMENT_LINE_MAGICS.has(magic[2])) {
        magicLines.push(i + 1);
        dynamic ||= DEFINING_LINE_MAGICS.has(magic[2]);
      }
      result = transformLine(line);
    }
    scanLine(result, state);
    out.push(result);
  });
  return { code: out.join('\n'), ignoredCellMagic: null, magicLines, dynamic };
}

function transformLine(line: string): string {
  const trimmed = line.trimStart();
  if (trimmed === '' || trimmed.startsWith('#')) {
    return line;
  }
  const indent = line.slice(0, line.length - trimmed.length);
  if (trimmed.startsWith('!')) {
    return passLine(indent);
  }
  const assigned = ASSIGN_SHELL.exec(line);
  if (assigned) {
    // `x = !ls`, `files = %sx ls`: the names are defined, the command is opaque.
    const names = assigned[2];
    return `${indent}${names} = None`;
  }
  const magic = LINE_MAGIC.exec(line);
  if (magic) {
    const [, ind, name, rest] = magic;
    if (STATEMENT_LINE_MAGICS.has(name)) {
      const stmt = rest.replace(/^(\s+-[A-Za-z]+(\s+\d+)?)*/, '').trim();
      return stmt ? `${ind}${stmt}` : passLine(ind);
    }
    return passLine(ind);
  }
  if (HELP.test(line)) {
    return passLine(indent);
  }
  return line;
}
