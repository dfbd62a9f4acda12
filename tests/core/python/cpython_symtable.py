"""CPython's own view of the names in each standard-library module, for symtable.spec.ts.

Every ``.py`` file of the standard library of the Python running this script is read as one
notebook cell. For each, ``symtable`` resolves every name; the module-level view is:

- ``reads``: names the module scope references, and names that nested scopes (functions,
  lambdas, classes, comprehensions) reference and that resolve to module globals;
- ``defines``: names the module scope binds (assignment, import, def, class, del, for ...), and
  names nested scopes declare ``global`` and bind.

Prints one JSON object: ``{"python": version, "skipped": [[path, reason], ...],
"files": [{"path", "source", "reads", "defines"}, ...]}``. With ``--every N --offset K`` only
the files at positions K, K+N, K+2N ... (sorted by path) are read: a deterministic sample.
"""
import argparse
import io
import json
import os
import symtable
import sys
import sysconfig
import tokenize
import warnings


def stdlib_files():
    root = sysconfig.get_paths()["stdlib"]
    found = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in ("site-packages", "dist-packages", "__pycache__"))
        found.extend(os.path.join(directory, f) for f in files if f.endswith(".py"))
    return root, sorted(found)


def is_global(sym):
    """``Symbol.is_global()`` from the scope alone: in Python 3.11 it also says True for every
    bound name of any function named ``top`` (it took that name for the module's)."""
    return sym._Symbol__scope in (symtable.GLOBAL_IMPLICIT, symtable.GLOBAL_EXPLICIT)


def module_view(table):
    reads = set()
    defines = set()
    for sym in table.get_symbols():
        name = sym.get_name()
        if sym.is_referenced():
            reads.add(name)
        if sym.is_assigned() or sym.is_imported() or sym.is_namespace():
            defines.add(name)
    stack = list(table.get_children())
    while stack:
        child = stack.pop()
        stack.extend(child.get_children())
        for sym in child.get_symbols():
            if not is_global(sym):
                continue
            name = sym.get_name()
            if sym.is_referenced():
                reads.add(name)
            if sym.is_declared_global() and (sym.is_assigned() or sym.is_imported() or sym.is_namespace()):
                defines.add(name)
    return clean(reads), clean(defines)


def clean(names):
    """Sorted, without ".0" (a comprehension's hidden argument) and "__class__" (the implicit
    cell of methods that use super()): neither is a name the code reads from its namespace."""
    return sorted(n for n in names if not n.startswith(".") and n != "__class__")


def read_source(path):
    with open(path, "rb") as f:
        data = f.read()
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    text = data.decode(encoding)
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--offset", type=int, default=0)
    args = parser.parse_args()
    root, paths = stdlib_files()
    files = []
    skipped = []
    for path in paths[args.offset :: args.every]:
        rel = os.path.relpath(path, root)
        try:
            source = read_source(path)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                compile(source, rel, "exec")
                table = symtable.symtable(source, rel, "exec")
        except (SyntaxError, ValueError, UnicodeDecodeError) as error:
            skipped.append([rel, "%s: %s" % (type(error).__name__, error)])
            continue
        reads, defines = module_view(table)
        files.append({"path": rel, "source": source, "reads": reads, "defines": defines})
    json.dump({"python": sys.version.split()[0], "skipped": skipped, "files": files}, sys.stdout)


if __name__ == "__main__":
    main()
