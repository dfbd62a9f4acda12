/**
 * Names a notebook can use without defining them: Python's builtins (by the version that added
 * them), the module attributes of `__main__`, and what IPython and the step runtime provide.
 */

/** Builtins of Python 3.8 and later. */
const BUILTINS: ReadonlySet<string> = new Set(
  (
    'ArithmeticError AssertionError AttributeError BaseException BlockingIOError BrokenPipeError ' +
    'BufferError BytesWarning ChildProcessError ConnectionAbortedError ConnectionError ' +
    'ConnectionRefusedError ConnectionResetError DeprecationWarning EOFError Ellipsis ' +
    'EnvironmentError Exception False FileExistsError FileNotFoundError FloatingPointError ' +
    'FutureWarning GeneratorExit IOError ImportError ImportWarning IndentationError IndexError ' +
    'InterruptedError IsADirectoryError KeyError KeyboardInterrupt LookupError MemoryError ' +
    'ModuleNotFoundError NameError None NotADirectoryError NotImplemented NotImplementedError ' +
    'OSError OverflowError PendingDeprecationWarning PermissionError ProcessLookupError ' +
    'RecursionError ReferenceError ResourceWarning RuntimeError RuntimeWarning StopAsyncIteration ' +
    'StopIteration SyntaxError SyntaxWarning SystemError SystemExit TabError TimeoutError True ' +
    'TypeError UnboundLocalError UnicodeDecodeError UnicodeEncodeError UnicodeError ' +
    'UnicodeTranslateError UnicodeWarning UserWarning ValueError Warning ZeroDivisionError ' +
    '__build_class__ __debug__ __doc__ __import__ __loader__ __name__ __package__ __spec__ ' +
    '__builtins__ abs all any ascii bin bool breakpoint bytearray bytes callable chr classmethod ' +
    'compile complex copyright credits delattr dict dir divmod enumerate eval exec exit filter ' +
    'float format frozenset getattr globals hasattr hash help hex id input int isinstance ' +
    'issubclass iter len license list locals map max memoryview min next object oct open ord pow ' +
    'print property quit range repr reversed round set setattr slice sorted staticmethod str sum ' +
    'super tuple type vars zip'
  ).split(' ')
);

/** Builtins added after 3.8, with the minor version of Python 3 that added them. */
const LATER_BUILTINS: ReadonlyMap<string, number> = new Map([
  ['aiter', 10],
  ['anext', 10],
  ['EncodingWarning', 10],
  ['BaseExceptionGroup', 11],
  ['ExceptionGroup', 11],
  ['PythonFinalizationError', 13],
  ['_IncompleteInputError', 13]
]);

/** What IPython (and Chard's step runtime) put in the user namespace. */
const IPYTHON_NAMES: ReadonlySet<string> = new Set([
  'display',
  'get_ipython',
  'In',
  'Out',
  '_',
  '__',
  '___',
  '_i',
  '_ii',
  '_iii',
  '_ih',
  '_oh',
  '_dh',
  '_exit_code'
]);

/** `_12`, `_i12`: IPython's numbered output and input history. */
const IPYTHON_HISTORY = /^_i?\d+$/;

/**
 * The Python version a notebook was saved with (`metadata.language_info.version`), as
 * `[major, minor]`, or null when it does not say.
 */
export function notebookPythonVersion(metadata: Record<string, unknown>): [number, number] | null {
  const info = metadata.language_info;
  if (typeof info !== 'object' || info === null) {
    return null;
  }
  const version = (info as Record<string, unknown>).version;
  const match = typeof version === 'string' ? /^(\d+)\.(\d+)/.exec(version) : null;
  return match ? [Number(match[1]), Number(match[2])] : null;
}

/**
 * True when `name` is there without the notebook defining it: a builtin of `version` (of any
 * Python 3.8+ when the version is unknown) or a name IPython provides.
 */
export function isProvidedName(name: string, version: [number, number] | null = null): boolean {
  if (BUILTINS.has(name) || IPYTHON_NAMES.has(name) || IPYTHON_HISTORY.test(name)) {
    return true;
  }
  const since = LATER_BUILTINS.get(name);
  if (since === undefined) {
    return false;
  }
  return version === null || version[0] > 3 || (version[0] === 3 && version[1] >= since);
}
