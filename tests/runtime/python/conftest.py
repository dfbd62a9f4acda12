"""pytest for the Python in src/runtime, each module on its own (the jest specs in tests/runtime
run the joined runtime end to end). Run by `npm run test:python`."""

import os
import sys
import types

import pytest

RUNTIME_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "src",
                           "runtime")
sys.path.insert(0, os.path.abspath(RUNTIME_DIR))

from chard_runtime.errors import cell_file  # noqa: E402 (after the path is set)


@pytest.fixture
def notebook(monkeypatch):
    """A fresh notebook namespace installed as module __main__, as the runtime makes for a step.
    Call it again for the next step (the consumer)."""

    def make(code="", cells=None):
        module = types.ModuleType("__main__")
        monkeypatch.setitem(sys.modules, "__main__", module)
        for cell, source in (cells or {}).items():
            exec(compile(source, cell_file(cell), "exec"), module.__dict__)
        if code:
            exec(compile(code, cell_file(0), "exec"), module.__dict__)
        return module.__dict__

    return make
