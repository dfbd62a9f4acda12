// Embeds the Python that travels inside JavaScript as string constants, so that no code reads
// Python files at run time (the pure core cannot). Run by `npm run build`. Writes:
// - src/core/generated/runtime.ts: the step runtime (the modules of src/runtime/chard_runtime/
//   joined into one file, chard_runtime.py, which every target runs), its sha256, and the
//   bootstrap the manifests carry (src/runtime/bootstrap.py);
// - src/server/generated/local.ts: the local runner's launcher and preloaded interpreter
//   (src/runtime/launcher.py and zygote.py, each joined with lifetime.py), run as `python -c`;
// - lib/runtime/chard_runtime.py: the joined runtime as a file, which the runtime tests run.
//
// Joining: each module keeps its code in order; its docstring and its imports of sibling modules
// (`from .spec import load_spec`, `from lifetime import watch`) are dropped, its other imports
// are hoisted (once each). So that the joined file means what the modules mean, sibling imports
// must name plain names (no `as`, no `from . import module`), and no top-level name may be
// defined by two modules: the build fails otherwise.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeGenerated } from './write-generated.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const RUNTIME_DIR = join(root, 'src/runtime');
const PACKAGE_DIR = join(RUNTIME_DIR, 'chard_runtime');
/** The runtime's modules, each after those it imports. */
const RUNTIME_MODULES = [
  'errors',
  'files',
  'spec',
  'byvalue',
  'marshalling',
  'shell',
  'outputs',
  'metrics',
  'step'
];

/** Run as a script, the joined runtime runs itself as the module `chard_runtime`, so that its
 * classes and functions are never taken for the notebook's (module `__main__`). */
const SCRIPT_ENTRY = `import sys

if __name__ == "__main__":
    # Started as a script: run as the module chard_runtime (what pickles name), not __main__.
    import importlib.util
    _spec = importlib.util.spec_from_file_location("chard_runtime", __file__)
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["chard_runtime"] = _module
    _spec.loader.exec_module(_module)
    sys.exit(_module.main(sys.argv[1:]))
`;

function fail(message) {
  console.error(`embed-runtime: ${message}`);
  process.exit(1);
}

/** A module's text split into its docstring, its top-level import statements and its body. */
function parseModule(file) {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  let i = 0;
  let doc = '';
  const quote = /^("""|''')/.exec(lines[0] ?? '');
  if (quote) {
    const start = i;
    const closesOnFirst = lines[0].length > 3 && lines[0].trimEnd().endsWith(quote[1]);
    i = closesOnFirst ? 1 : lines.findIndex((l, n) => n > 0 && l.includes(quote[1])) + 1;
    if (i === 0) {
      fail(`${file}: unterminated docstring`);
    }
    doc = lines.slice(start, i).join('\n');
  }
  const imports = [];
  const body = [];
  while (i < lines.length) {
    const line = lines[i];
    if (/^(import |from \S+ import )/.test(line)) {
      let statement = line;
      while (/\(/.test(statement) && !/\)/.test(statement)) {
        i += 1;
        statement += '\n' + lines[i];
      }
      imports.push(statement);
    } else {
      body.push(line);
    }
    i += 1;
  }
  return { doc, imports, body: body.join('\n').trim() };
}

/** The names `from X import a, b` imports, or null when it cannot be joined. */
function importedNames(statement) {
  const m = /^from \S+ import \(?([\s\S]*?)\)?\s*$/.exec(statement);
  if (!m || / as /.test(m[1])) {
    return null;
  }
  return m[1].split(',').map(s => s.trim()).filter(Boolean);
}

/**
 * Join modules into one Python text. `siblings(statement)` tells whether an import statement
 * imports from one of the joined modules (then it is dropped).
 */
function join_(files, siblings, { head = '', keep = new Set() } = {}) {
  const hoisted = [];
  const bodies = [];
  const definedBy = new Map();
  for (const file of files) {
    const module = parseModule(file);
    for (const statement of module.imports) {
      if (siblings(statement)) {
        const names = importedNames(statement);
        if (names === null) {
          fail(`${file}: "${statement}": import names from sibling modules, without "as"`);
        }
        for (const name of names) {
          if (!definedBy.has(name)) {
            fail(`${file}: imports ${name}, which no module before it defines`);
          }
        }
      } else if (!hoisted.includes(statement) && !keep.has(statement)) {
        hoisted.push(statement);
      }
    }
    for (const m of module.body.matchAll(/^(?:class|def|async def)\s+(\w+)|^(\w+)\s*=/gm)) {
      const name = m[1] ?? m[2];
      const previous = definedBy.get(name);
      if (previous !== undefined && previous !== file) {
        fail(`${name} is defined by both ${previous} and ${file}: rename one`);
      }
      definedBy.set(name, file);
    }
    const label = file.slice(RUNTIME_DIR.length + 1);
    bodies.push(`# ${'-'.repeat(40)} ${label}\n\n${module.body}\n`);
  }
  return [head, hoisted.join('\n'), ...bodies]
    .map(part => part.trim())
    .filter(Boolean)
    .join('\n\n\n');
}

function docstringOf(file) {
  return parseModule(file).doc;
}

function sha256(text) {
  return createHash('sha256').update(text).digest('hex');
}

// The step runtime, one file.
const packageDoc = docstringOf(join(PACKAGE_DIR, '__init__.py'));
const runtime =
  join_(
    RUNTIME_MODULES.map(name => join(PACKAGE_DIR, `${name}.py`)),
    statement => statement.startsWith('from .'),
    {
      head:
        packageDoc +
        '\n# Generated by scripts/embed-runtime.mjs from src/runtime/chard_runtime/. Do not edit.\n\n' +
        SCRIPT_ENTRY,
      keep: new Set(['import sys'])
    }
  ) + '\n';

// The bootstrap: one file already.
const bootstrap = readFileSync(join(RUNTIME_DIR, 'bootstrap.py'), 'utf8');
if (bootstrap.includes('{{')) {
  // Argo and KFP substitute `{{...}}` in the strings of a manifest, where the bootstrap travels.
  fail('src/runtime/bootstrap.py must not contain "{{" (Argo and KFP would substitute it)');
}

// The launcher and the zygote, each with the lifetime functions they share.
const LOCAL_SIBLINGS = statement => /^from lifetime import /.test(statement);
const localProgram = name =>
  join_([join(RUNTIME_DIR, 'lifetime.py'), join(RUNTIME_DIR, `${name}.py`)], LOCAL_SIBLINGS, {
    head: docstringOf(join(RUNTIME_DIR, `${name}.py`))
  }) + '\n';

const generated = source => `// Generated by scripts/embed-runtime.mjs from ${source}. Do not edit.\n`;
writeGenerated(
  join(root, 'src/core/generated/runtime.ts'),
  generated('src/runtime/') +
    `export const RUNTIME_SHA256 = ${JSON.stringify(sha256(runtime))};\n` +
    `export const RUNTIME_SOURCE: string = ${JSON.stringify(runtime)};\n` +
    `export const BOOTSTRAP_SOURCE: string = ${JSON.stringify(bootstrap)};\n`
);
writeGenerated(
  join(root, 'src/server/generated/local.ts'),
  generated('src/runtime/launcher.py, zygote.py, tensorboard_launcher.py and lifetime.py') +
    `export const LAUNCHER_SOURCE: string = ${JSON.stringify(localProgram('launcher'))};\n` +
    `export const ZYGOTE_SOURCE: string = ${JSON.stringify(localProgram('zygote'))};\n` +
    `export const TENSORBOARD_LAUNCHER_SOURCE: string = ${JSON.stringify(localProgram('tensorboard_launcher'))};\n`
);
writeGenerated(join(root, 'lib/runtime/chard_runtime.py'), runtime);
