/**
 * The modules a plan's code imports, read the way the analysis reads cells (IPython syntax
 * through `preprocessIPython`, then the @lezer/python tree): imports in strings, comments or
 * `%%bash` cells do not count, `import a; import b` and `from x import (\n ...)` do. Left out:
 * relative imports and imports inside a `try` (the idiom for optional modules).
 */
import type { SyntaxNode } from '@lezer/common';
import { parser } from '@lezer/python';
import type { IPlan } from '../plan.js';
import { preprocessIPython } from './ipython.js';

/** Top-level modules of Python's standard library (`sys.stdlib_module_names`, CPython 3.11). */
export const STDLIB_MODULES: ReadonlySet<string> = new Set([
  'abc',
  'aifc',
  'antigravity',
  'argparse',
  'array',
  'ast',
  'asynchat',
  'asyncio',
  'asyncore',
  'atexit',
  'audioop',
  'base64',
  'bdb',
  'binascii',
  'bisect',
  'builtins',
  'bz2',
  'cProfile',
  'calendar',
  'cgi',
  'cgitb',
  'chunk',
  'cmath',
  'cmd',
  'code',
  'codecs',
  'codeop',
  'collections',
  'colorsys',
  'compileall',
  'concurrent',
  'configparser',
  'contextlib',
  'contextvars',
  'copy',
  'copyreg',
  'crypt',
  'csv',
  'ctypes',
  'curses',
  'dataclasses',
  'datetime',
  'dbm',
  'decimal',
  'difflib',
  'dis',
  'distutils',
  'doctest',
  'email',
  'encodings',
  'ensurepip',
  'enum',
  'errno',
  'faulthandler',
  'fcntl',
  'filecmp',
  'fileinput',
  'fnmatch',
  'fractions',
  'ftplib',
  'functools',
  'gc',
  'genericpath',
  'getopt',
  'getpass',
  'gettext',
  'glob',
  'graphlib',
  'grp',
  'gzip',
  'hashlib',
  'heapq',
  'hmac',
  'html',
  'http',
  'idlelib',
  'imaplib',
  'imghdr',
  'imp',
  'importlib',
  'inspect',
  'io',
  'ipaddress',
  'itertools',
  'json',
  'keyword',
  'lib2to3',
  'linecache',
  'locale',
  'logging',
  'lzma',
  'mailbox',
  'mailcap',
  'marshal',
  'math',
  'mimetypes',
  'mmap',
  'modulefinder',
  'msilib',
  'msvcrt',
  'multiprocessing',
  'netrc',
  'nis',
  'nntplib',
  'nt',
  'ntpath',
  'nturl2path',
  'numbers',
  'opcode',
  'operator',
  'optparse',
  'os',
  'ossaudiodev',
  'pathlib',
  'pdb',
  'pickle',
  'pickletools',
  'pipes',
  'pkgutil',
  'platform',
  'plistlib',
  'poplib',
  'posix',
  'posixpath',
  'pprint',
  'profile',
  'pstats',
  'pty',
  'pwd',
  'py_compile',
  'pyclbr',
  'pydoc',
  'pydoc_data',
  'pyexpat',
  'queue',
  'quopri',
  'random',
  're',
  'readline',
  'reprlib',
  'resource',
  'rlcompleter',
  'runpy',
  'sched',
  'secrets',
  'select',
  'selectors',
  'shelve',
  'shlex',
  'shutil',
  'signal',
  'site',
  'smtpd',
  'smtplib',
  'sndhdr',
  'socket',
  'socketserver',
  'spwd',
  'sqlite3',
  'sre_compile',
  'sre_constants',
  'sre_parse',
  'ssl',
  'stat',
  'statistics',
  'string',
  'stringprep',
  'struct',
  'subprocess',
  'sunau',
  'symtable',
  'sys',
  'sysconfig',
  'syslog',
  'tabnanny',
  'tarfile',
  'telnetlib',
  'tempfile',
  'termios',
  'textwrap',
  'this',
  'threading',
  'time',
  'timeit',
  'tkinter',
  'token',
  'tokenize',
  'tomllib',
  'trace',
  'traceback',
  'tracemalloc',
  'tty',
  'turtle',
  'turtledemo',
  'types',
  'typing',
  'unicodedata',
  'unittest',
  'urllib',
  'uu',
  'uuid',
  'venv',
  'warnings',
  'wave',
  'weakref',
  'webbrowser',
  'winreg',
  'winsound',
  'wsgiref',
  'xdrlib',
  'xml',
  'xmlrpc',
  'zipapp',
  'zipfile',
  'zipimport',
  'zlib',
  'zoneinfo'
]);

/** The top-level modules the plan's code imports, sorted. */
export function importedModules(plan: IPlan): string[] {
  const modules = new Set<string>();
  const code = [...plan.imports, ...plan.functions, ...plan.steps.flatMap(s => s.code)];
  for (const block of code) {
    const text = preprocessIPython(block.source).code;
    Private.collectImports(parser.parse(text).topNode, text, modules);
  }
  return [...modules].sort();
}

/** The imported modules that are not in the standard library (a bare Python image lacks them). */
export function thirdPartyModules(plan: IPlan): string[] {
  return importedModules(plan).filter(m => !STDLIB_MODULES.has(m) && !m.startsWith('_'));
}

namespace Private {
  /** Add the top-level module of every import statement below `node` (outside `try`). */
  export function collectImports(node: SyntaxNode, text: string, modules: Set<string>): void {
    for (let child = node.firstChild; child; child = child.nextSibling) {
      if (child.name === 'ImportStatement') {
        for (const module of importedBy(child, text)) {
          modules.add(module);
        }
      } else if (child.name !== 'TryStatement') {
        collectImports(child, text, modules);
      }
    }
  }

  /**
   * `import a.b as c, d` -> a, d (the first name after `import` and after each comma);
   * `from a.b import c` -> a; `from .a import b` -> nothing.
   */
  function importedBy(statement: SyntaxNode, text: string): string[] {
    const kids: SyntaxNode[] = [];
    for (let c = statement.firstChild; c; c = c.nextSibling) {
      kids.push(c);
    }
    const name = (node: SyntaxNode | undefined): string[] =>
      node?.name === 'VariableName' ? [text.slice(node.from, node.to)] : [];
    if (kids[0]?.name === 'from') {
      return name(kids[1]);
    }
    return kids.flatMap((kid, i) =>
      kid.name === 'import' || kid.name === ',' ? name(kids[i + 1]) : []
    );
  }
}
