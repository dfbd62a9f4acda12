"""What the preloaded interpreter imports from the imports cells (it runs no notebook code)."""

import os

import zygote


def test_imports_up_to_the_first_other_statement():
    sources = ['"""Imports."""\nimport numpy as np\nfrom pandas import DataFrame\n'
               'import os\nos.environ["X"] = "1"\nimport torch\n',
               "import json\n"]
    assert zygote.module_names(sources) == ["numpy", "pandas", "os"]


def test_ipython_syntax_lines_are_read_one_by_one_until_one_is_not_python():
    assert zygote.module_names(["import numpy\n%matplotlib inline\nimport pandas\n"]) == ["numpy"]


def test_a_relative_import_and_what_follows_are_left_to_the_step():
    assert zygote.module_names(["import os\nfrom . import local\nimport json\n"]) == ["os"]


def test_modules_in_the_workspace_are_not_preloaded(tmp_path, monkeypatch):
    (tmp_path / "helpers_in_workspace.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    workspace = os.path.realpath(str(tmp_path))
    assert not zygote.installed("helpers_in_workspace", workspace)
    assert zygote.installed("json", workspace)
    assert not zygote.installed("no_such_module_anywhere", workspace)
