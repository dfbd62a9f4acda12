/**
 * A differential test against CPython's own scoping. Every `.py` file of the standard library
 * of /usr/bin/python3 is read as one notebook cell; Python's `symtable` module resolves every
 * name in it (tests/core/python/cpython_symtable.py), and Chard's `analyzeCell` must agree:
 *
 * - reads: every name Chard says the cell reads from outside (`reads`, and the free names of the
 *   functions and classes it defines) is a name symtable resolves as a module-level reference
 *   (at module level, or a free name of a nested function, lambda, class or comprehension that
 *   resolves to a module global); and every such reference is one Chard reads or binds;
 * - defines: the names Chard says the cell binds (`defines`, `deletes`, and the globals its
 *   functions assign) are exactly the names symtable says the module scope binds (assignment,
 *   import, def, class, del, for, with, except, walrus, match, and `global` declarations).
 *
 * Deliberate differences, not counted as mismatches (each is counted and printed):
 * - a name only read after the cell binds it is not an input (`x = 1; print(x)` does not read
 *   `x` from an earlier step): symtable's reference is then one of Chard's definitions;
 * - an annotation without a value (`x: int`) binds nothing (reading `x` afterwards raises
 *   NameError), while symtable marks it local.
 *
 * Everything else is a mismatch. The test prints the count by class, with examples, and fails
 * when it grows beyond the committed baseline (symtable-baseline.json; the goal is zero). All
 * files are compared (no sampling): about ten seconds on a loaded two-core machine.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyzeCell } from '../../../src/core/python/scopes.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const PYTHON = '/usr/bin/python3';

interface ISymtableFile {
  path: string;
  source: string;
  reads: string[];
  defines: string[];
}

interface ISymtableView {
  python: string;
  skipped: [string, string][];
  files: ISymtableFile[];
}

interface IComparison {
  mismatches: Map<string, string[]>;
  deliberate: Map<string, number>;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null;
}

function parseView(text: string): ISymtableView {
  const data: unknown = JSON.parse(text);
  if (!isRecord(data) || !Array.isArray(data.files) || !Array.isArray(data.skipped)) {
    throw new Error('cpython_symtable.py printed something else than its JSON view');
  }
  return data as unknown as ISymtableView;
}

/** An annotation without a value, `name: T`, as a statement of its own. */
function declaresOnly(source: string, name: string): boolean {
  return new RegExp(`(^|;)[ \\t]*${name}[ \\t]*:(?!=)[^=;\\n]*(;|$)`, 'm').test(source);
}

function compare(files: ISymtableFile[]): IComparison {
  const mismatches = new Map<string, string[]>();
  const deliberate = new Map<string, number>();
  const mismatch = (kind: string, file: string, detail: string): void => {
    const list = mismatches.get(kind) ?? [];
    list.push(`${file}: ${detail}`);
    mismatches.set(kind, list);
  };
  const count = (kind: string): void => {
    deliberate.set(kind, (deliberate.get(kind) ?? 0) + 1);
  };
  for (const file of files) {
    const a = analyzeCell(file.source);
    const reads = new Set([...a.reads, ...a.functions.flatMap(f => f.freeReads)]);
    const defines = new Set([
      ...a.defines,
      ...a.deletes,
      ...a.functions.flatMap(f => f.globalWrites)
    ]);
    const symReads = new Set(file.reads);
    const symDefines = new Set(file.defines);
    for (const d of a.diagnostics.filter(x => x.severity === 'error')) {
      mismatch('syntax error in code CPython compiles', file.path, `line ${d.line}: ${d.message}`);
    }
    for (const n of reads) {
      if (!symReads.has(n)) {
        mismatch('read that CPython does not resolve as a global', file.path, n);
      }
    }
    for (const n of symReads) {
      if (reads.has(n)) {
        continue;
      }
      if (defines.has(n)) {
        count('names read only after the cell binds them (not inputs)');
      } else {
        mismatch('global reference that Chard misses', file.path, n);
      }
    }
    for (const n of defines) {
      if (!symDefines.has(n)) {
        mismatch('binding that CPython does not see', file.path, n);
      }
    }
    for (const n of symDefines) {
      if (defines.has(n)) {
        continue;
      }
      if (declaresOnly(file.source, n)) {
        count('annotations without a value (`x: int` binds nothing)');
      } else {
        mismatch('binding that Chard misses', file.path, n);
      }
    }
  }
  return { mismatches, deliberate };
}

describe("names a cell reads and binds, against CPython's symtable", () => {
  it('agrees with symtable on every module of the standard library, up to the documented differences', () => {
    const baseline = JSON.parse(readFileSync(join(HERE, 'symtable-baseline.json'), 'utf8')) as {
      mismatches: number;
    };
    const out = execFileSync(PYTHON, [join(HERE, 'cpython_symtable.py')], {
      maxBuffer: 256 * 1024 * 1024
    });
    const view = parseView(out.toString());
    expect(view.files.length).toBeGreaterThan(100);
    const started = Date.now();
    const { mismatches, deliberate } = compare(view.files);
    const total = [...mismatches.values()].reduce((n, list) => n + list.length, 0);
    const lines = [
      `symtable differential test (Python ${view.python}): ${view.files.length} files compared, ` +
        `${view.skipped.length} skipped (they do not compile), ${Date.now() - started} ms`,
      `  mismatches: ${total} (baseline ${baseline.mismatches})`,
      ...[...mismatches].map(
        ([kind, list]) => `    ${kind}: ${list.length}, e.g. ${list.slice(0, 5).join('; ')}`
      ),
      '  deliberate differences:',
      ...[...deliberate].map(([kind, n]) => `    ${kind}: ${n}`)
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    expect(total).toBeLessThanOrEqual(baseline.mismatches);
  }, 180000);
});
