"""The notebook's classes and functions travel by value with the standard library."""

import io
import os
import pickle

import pytest

from chard_runtime import byvalue
from chard_runtime.errors import cell_file


@pytest.fixture(autouse=True)
def no_consumer_cells():
    byvalue.consumer_cells({})
    yield
    byvalue.consumer_cells({})


def roundtrip(value):
    out = io.BytesIO()
    byvalue.pickle_dump(value, out)
    return out.getvalue()


ACC = '''
class Acc:
    """Counts."""
    def __init__(self):
        self.total = 0
    def add(self, v):
        self.total += v
        return self
    @property
    def double(self):
        return self.total * 2
    @classmethod
    def fresh(cls):
        return cls()

class Weighted(Acc):
    def add(self, v):
        return super().add(v * 10)

acc = Acc().add(3)
weighted = Weighted().add(1)
'''


def test_an_instance_of_a_notebook_class_loads_where_the_class_is_not_defined(notebook):
    producer = notebook(ACC)
    data = roundtrip(producer["acc"])
    notebook()  # the consuming step: no Acc
    acc = pickle.loads(data)
    assert acc.add(4).total == 7
    assert acc.double == 14
    assert type(acc).__name__ == "Acc" and type(acc).__doc__ == "Counts."
    assert type(acc.fresh()) is type(acc)


def test_super_and_subclasses_work_and_share_one_base_across_values(notebook):
    producer = notebook(ACC)
    acc_data, weighted_data = roundtrip(producer["acc"]), roundtrip(producer["weighted"])
    notebook()
    acc, weighted = pickle.loads(acc_data), pickle.loads(weighted_data)
    assert weighted.add(2).total == 30
    assert isinstance(weighted, type(acc))  # one Acc, as in the notebook


def test_functions_closures_recursion_and_globals(notebook):
    producer = notebook('''
FACTOR = 3
def scale(v):
    return v * FACTOR
def outer(k):
    def inner(v):
        return v + k
    return inner
def fact(n):
    return 1 if n <= 1 else n * fact(n - 1)
plus2 = outer(2)
square = lambda v: v * v
''')
    data = roundtrip([producer[n] for n in ("scale", "plus2", "fact", "square")])
    consumer = notebook()
    scale, plus2, fact, square = pickle.loads(data)
    assert (scale(2), plus2(1), fact(5), square(4)) == (6, 3, 120, 16)
    # The function's globals are the consuming step's namespace, as in the notebook.
    assert consumer["FACTOR"] == 3
    consumer["FACTOR"] = 10
    assert scale(2) == 20


def test_a_name_the_consumer_already_has_is_kept(notebook):
    producer = notebook("LIMIT = 1\ndef limit():\n    return LIMIT\n")
    data = roundtrip(producer["limit"])
    consumer = notebook("LIMIT = 5\n")
    assert pickle.loads(data)() == 5
    assert consumer["LIMIT"] == 5


def test_a_class_the_consumer_defines_in_the_same_cell_is_taken_from_there(notebook):
    functions = "class Box:\n    def __init__(self, v):\n        self.v = v\n"
    producer = notebook("box = Box(7)", cells={1: functions})
    data = roundtrip(producer["box"])
    consumer = notebook()
    byvalue.consumer_cells({1: functions, 2: "print(box.v)"})
    with pytest.raises(AttributeError, match="Box"):
        pickle.loads(data)  # not yet: the functions cell has not run
    exec(compile(functions, cell_file(1), "exec"), consumer)
    box = pickle.loads(data)
    assert type(box) is consumer["Box"] and box.v == 7


def test_a_function_saved_by_another_python_version_fails_with_what_to_do(notebook):
    producer = notebook("def f():\n    return 1\n")
    reducer = byvalue.Pickler(io.BytesIO()).reducer_override(producer["f"])
    rebuild, args = reducer[0], list(reducer[1])
    args[3] = "2.7"
    notebook()
    with pytest.raises(pickle.UnpicklingError, match="saved by Python 2.7 .* same Python version"):
        rebuild(*args)


def test_what_cannot_travel_still_fails_to_pickle(notebook):
    producer = notebook("def gen():\n    yield 1\nstream = gen()\n")
    with pytest.raises(TypeError, match="generator"):
        roundtrip(producer["stream"])


def test_values_without_notebook_code_pickle_as_plain_pickle(notebook):
    notebook()
    value = {"a": [1, 2.5, "x"], "b": (None, True)}
    assert roundtrip(value) == pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def test_a_forked_step_names_its_objects_apart_from_its_siblings(notebook):
    producer = notebook("class A:\n    pass\n")
    parent = byvalue._token(producer["A"])
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, byvalue._token(producer["A"]).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 200).decode()
    assert child != parent and child.endswith(parent.rsplit("-", 1)[1])


@pytest.mark.parametrize("code,check", [
    ("from dataclasses import dataclass, field\n"
     "@dataclass(frozen=True)\nclass P:\n    x: int\n    y: tuple = field(default=())\nv = P(1)",
     "from dataclasses import asdict, fields, replace\n"
     "out = (v == type(v)(1), asdict(v), [f.name for f in fields(v)], replace(v, x=3).x)"),
    ("from collections import namedtuple\nPt = namedtuple('Pt', 'a b')\nv = Pt(1, 2)",
     "out = (v.a, v._replace(a=5), v._asdict())"),
    ("from typing import NamedTuple\nclass Q(NamedTuple):\n    a: int\n    b: str = 'x'\nv = Q(1)",
     "out = (v.b, v._replace(b='y').b)"),
    ("from typing import Generic, TypeVar\nT = TypeVar('T')\n"
     "class Box(Generic[T]):\n    def __init__(self, v):\n        self.v = v\nv = Box(3)",
     "out = (v.v, repr(type(v)[int]))"),
])
def test_dataclasses_named_tuples_and_generics_work_in_the_consumer(notebook, code, check):
    producer = notebook(code)
    expected = dict(producer)
    exec(check, expected)
    data = roundtrip(producer["v"])
    consumer = notebook()
    consumer["v"] = pickle.loads(data)
    exec(check, consumer)
    assert repr(consumer["out"]) == repr(expected["out"])
