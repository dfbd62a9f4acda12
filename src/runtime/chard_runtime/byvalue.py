"""Pickling the classes and functions the notebook defines by value, with the standard library.

Plain pickle saves a class or function by reference (its module and name); for module
``__main__`` (the notebook) the step that loads the value would need the same definition. In the
notebook it is there; in a pipeline, a later step has only its own cells and the shared
`imports`/`functions` cells. So ``Pickler`` (a ``pickle.Pickler``) saves a class or function of
``__main__`` by value, as cloudpickle does: a function as its code object (``marshal``), the
globals its code reads, its defaults, closure, and attributes; a class as its bases, metaclass
and attributes (methods by value in turn). A consumer rebuilds them:

- a function's globals are the consuming step's own namespace (``__main__``), as in the
  notebook, where every cell shares one; the globals the producer's code read are added there
  unless the step already has that name;
- a class or function that one of the consuming step's own cells defines (a `functions` cell,
  which every step runs) is not rebuilt but taken from that cell, once it has run, so there is one
  class, as in the notebook (``isinstance`` and ``is`` hold); until then loading it raises
  AttributeError, which the runtime reads as "load this input once the code defines it".

Code objects are specific to a Python version: loading one in another version fails with a
message saying so. Enum classes still travel by reference.

The rebuilding functions are found by name (``chard_runtime._rebuild_class``...), so whatever
loads such a value needs the runtime importable as ``chard_runtime`` (the runtime always runs as
that module, even when started as a script).
"""

import builtins
import dis
import enum
import importlib
import marshal
import os
import pickle
import re
import sys
import types

from .errors import cell_index

NOTEBOOK = "__main__"
PORTABLE_MODULE = "chard_runtime"
GLOBAL_OPS = frozenset(("LOAD_GLOBAL", "STORE_GLOBAL", "DELETE_GLOBAL", "LOAD_NAME",
                        "STORE_NAME", "DELETE_NAME"))
# The attributes a class is created with; the rest are set once it exists (they may refer to it).
CREATION_ATTRIBUTES = ("__module__", "__qualname__", "__doc__", "__slots__")
# Names the runtime gives every step's namespace: never captured.
PROVIDED = frozenset(("get_ipython", "display"))
# Cells the consuming step runs: cell index -> its source (see consumer_cells).
_CONSUMER = {}
# Classes and functions this process rebuilt from a pickle whose state is still to be set.
_SKELETONS = {}
# What this process rebuilt, by the producer's token: a class that several values (files) refer to
# is rebuilt once, so there is one class, as in the notebook.
_REBUILT = {}
# This process's part of those tokens: [pid, random text]. Made anew in each process (steps forked
# from one preloaded interpreter share its memory layout, so ids alone would collide).
_PROCESS = [None, ""]
# What this process made tokens for, kept alive so that no other object gets the same id().
_NAMED = {}


def _portable(function):
    """Give a rebuilding function the module name pickles use to find it."""
    function.__module__ = PORTABLE_MODULE
    return function


def consumer_cells(sources):
    """Tell the loader which cells the consuming step runs ({cell index: source})."""
    _CONSUMER.clear()
    _CONSUMER.update(sources)


class Pickler(pickle.Pickler):
    """pickle.Pickler that saves classes and functions of ``__main__`` by value."""

    def reducer_override(self, obj):
        if isinstance(obj, type):
            if _from_notebook(obj) and not isinstance(obj, enum.EnumMeta):
                return _reduce_class(obj)
        elif isinstance(obj, types.FunctionType):
            if _from_notebook(obj) or not _found_by_name(obj):
                # Also what pickle could not find again by name (namedtuple's methods...).
                return _reduce_function(obj)
        elif isinstance(obj, types.ModuleType):
            if sys.modules.get(obj.__name__) is obj:
                return importlib.import_module, (obj.__name__,)
        elif isinstance(obj, (staticmethod, classmethod)):
            return type(obj), (obj.__func__,)
        elif isinstance(obj, property):
            return property, (obj.fget, obj.fset, obj.fdel, obj.__doc__)
        elif isinstance(obj, types.MappingProxyType):
            return _rebuild_mappingproxy, (dict(obj),)
        elif _is_typevar(obj) and _from_notebook(obj):
            return _rebuild_typevar, (obj.__name__, obj.__bound__, obj.__constraints__,
                                      obj.__covariant__, obj.__contravariant__)
        return _dataclass_sentinel(obj)


def _found_by_name(obj):
    """Whether pickle finds obj again by its module and qualified name."""
    found = sys.modules.get(getattr(obj, "__module__", None) or "")
    for part in obj.__qualname__.split("."):
        found = getattr(found, part, None)
    return found is obj


def _is_typevar(obj):
    if type(obj).__name__ != "TypeVar":  # cheap first: this runs for every object pickled
        return False
    typing = sys.modules.get("typing")  # not imported: there is no TypeVar
    return typing is not None and isinstance(obj, typing.TypeVar)


def _dataclass_sentinel(obj):
    """dataclasses' sentinels by name (fields() and replace() compare them by identity)."""
    dataclasses = sys.modules.get("dataclasses")
    if dataclasses is None or type(obj).__module__ != "dataclasses":
        return NotImplemented
    for name in ("MISSING", "KW_ONLY", "_FIELD", "_FIELD_CLASSVAR", "_FIELD_INITVAR"):
        if getattr(dataclasses, name, None) is obj:
            return getattr, (dataclasses, name)
    return NotImplemented


def pickle_dump(value, file, protocol=pickle.HIGHEST_PROTOCOL):
    """pickle.dump, with the notebook's classes and functions by value."""
    Pickler(file, protocol=protocol).dump(value)


class PickleModule(object):
    """What torch.save(pickle_module=...) needs: this Pickler, pickle's Unpickler and load."""
    Pickler = Pickler
    Unpickler = pickle.Unpickler
    load = staticmethod(pickle.load)
    __name__ = "pickle"


def _from_notebook(obj):
    return getattr(obj, "__module__", None) == NOTEBOOK


def _code_cell(code):
    return cell_index(code.co_filename)


def _class_cell(cls):
    """The notebook cell that defines cls (from the code of its methods), or None."""
    for value in cls.__dict__.values():
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        elif isinstance(value, property):
            value = value.fget
        code = getattr(value, "__code__", None)
        if isinstance(code, types.CodeType) and _code_cell(code) is not None:
            return _code_cell(code)
    return None


def _global_names(code):
    """The global names code (and the code nested in it) reads or writes."""
    names = set()
    stack = [code]
    while stack:
        c = stack.pop()
        for ins in dis.get_instructions(c):
            if ins.opname in GLOBAL_OPS and isinstance(ins.argval, str):
                names.add(ins.argval)
        stack.extend(const for const in c.co_consts if isinstance(const, types.CodeType))
    return names


def _token(obj):
    """What names obj in the pickles this process writes (see _REBUILT)."""
    if _PROCESS[0] != os.getpid():
        _PROCESS[:] = [os.getpid(), "%d-%s" % (os.getpid(), os.urandom(8).hex())]
    _NAMED[id(obj)] = obj
    return "%s-%x" % (_PROCESS[1], id(obj))


def _version():
    return "%d.%d" % sys.version_info[:2]


def _reduce_function(function):
    code = function.__code__
    scope = function.__globals__
    captured = dict((name, scope[name]) for name in sorted(_global_names(code))
                    if name in scope and not name.startswith("__") and name not in PROVIDED)
    state = {
        "globals": captured,
        "defaults": function.__defaults__,
        "kwdefaults": function.__kwdefaults__,
        "closure": tuple((True, cell.cell_contents) if _cell_full(cell) else (False, None)
                         for cell in (function.__closure__ or ())),
        "dict": dict(function.__dict__),
        "annotations": dict(getattr(function, "__annotations__", None) or {}),
        "doc": function.__doc__,
    }
    # The notebook's functions share the consuming step's namespace; others get their own.
    shared = scope is getattr(sys.modules.get(NOTEBOOK), "__dict__", None) or _from_notebook(
        function)
    args = (function.__qualname__, _code_cell(code), function.__name__, _version(),
            marshal.dumps(code), len(code.co_freevars), _token(function), shared)
    return _rebuild_function, args, state, None, None, _set_function_state


def _cell_full(cell):
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def _reduce_class(cls):
    attributes = dict(cls.__dict__)
    for name in ("__dict__", "__weakref__", "_abc_impl"):
        attributes.pop(name, None)
    slots = attributes.get("__slots__", ())
    for name in ([slots] if isinstance(slots, str) else list(slots)):
        attributes.pop(name, None)  # the member descriptors the class makes for its slots
    creation = dict((k, attributes.pop(k)) for k in CREATION_ATTRIBUTES if k in attributes)
    bases = attributes.pop("__orig_bases__", cls.__bases__)
    if not any(hasattr(base, "__origin__") for base in bases):
        bases = cls.__bases__  # Generic[T] rather than Generic, but tuple, not NamedTuple
    for name in ("__parameters__",):
        attributes.pop(name, None)  # made again from the bases
    args = (cls.__qualname__, _class_cell(cls), cls.__name__, bases, type(cls), creation,
            _token(cls))
    return _rebuild_class, args, attributes, None, None, _set_class_state


def _defined_by_consumer(qualname, cell):
    """Whether one of the consuming step's own cells defines this class or function at its top
    level (then it is taken from there): the cell that defined it, when known, else any cell."""
    if "<" in qualname or not _CONSUMER:
        return False
    if cell is not None:
        sources = [_CONSUMER[cell]] if cell in _CONSUMER else []
    else:
        sources = list(_CONSUMER.values())
    top = re.compile(r"^(?:async[ \t]+def|def|class)[ \t]+%s\b" % re.escape(qualname.split(".")[0]),
                     re.M)
    return any(top.search(source) for source in sources)


def _by_name(qualname):
    """The consuming step's own definition; AttributeError until its cell has run."""
    obj = sys.modules.get(NOTEBOOK)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise AttributeError("Can't get attribute %r on <module %r>" % (qualname, NOTEBOOK))
    return obj


@_portable
def _rebuild_function(qualname, cell, name, version, code, free, token, shared=True):
    if _defined_by_consumer(qualname, cell):
        return _by_name(qualname)
    if token in _REBUILT:
        return _REBUILT[token]
    if version != _version():
        raise pickle.UnpicklingError(
            "function %s was saved by Python %s and cannot be loaded by Python %s (code objects "
            "differ between versions): use the same Python version in both steps" % (
                qualname, version, _version()))
    closure = tuple(types.CellType() for _ in range(free)) or None
    if shared and NOTEBOOK in sys.modules:
        scope = sys.modules[NOTEBOOK].__dict__
    else:
        scope = {"__builtins__": builtins}
    function = types.FunctionType(marshal.loads(code), scope, name, None, closure)
    _SKELETONS[id(function)] = _REBUILT[token] = function
    return function


@_portable
def _set_function_state(function, state):
    if _SKELETONS.pop(id(function), None) is not function:
        return function  # the consuming step's own definition
    for name, value in state["globals"].items():
        function.__globals__.setdefault(name, value)
    function.__defaults__ = state["defaults"]
    function.__kwdefaults__ = state["kwdefaults"]
    for cell, (full, value) in zip(function.__closure__ or (), state["closure"]):
        if full:
            cell.cell_contents = value
    function.__dict__.update(state["dict"])
    function.__annotations__ = state["annotations"]
    function.__doc__ = state["doc"]
    if function.__globals__ is getattr(sys.modules.get(NOTEBOOK), "__dict__", None):
        function.__module__ = NOTEBOOK
    return function


@_portable
def _rebuild_class(qualname, cell, name, bases, metaclass, creation, token):
    if _defined_by_consumer(qualname, cell):
        return _by_name(qualname)
    if token in _REBUILT:
        return _REBUILT[token]
    cls = types.new_class(name, bases, {"metaclass": metaclass},
                          lambda namespace: namespace.update(creation))
    _SKELETONS[id(cls)] = _REBUILT[token] = cls
    return cls


@_portable
def _rebuild_mappingproxy(mapping):
    return types.MappingProxyType(mapping)


@_portable
def _rebuild_typevar(name, bound, constraints, covariant, contravariant):
    import typing
    typevar = typing.TypeVar(name, *constraints, bound=bound, covariant=covariant,
                             contravariant=contravariant)
    typevar.__module__ = NOTEBOOK
    return typevar


@_portable
def _set_class_state(cls, attributes):
    if _SKELETONS.pop(id(cls), None) is not cls:
        return cls  # the consuming step's own definition
    for name, value in attributes.items():
        setattr(cls, name, value)
    return cls

