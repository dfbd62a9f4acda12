"""A step's rich outputs: display(), a cell's last value and matplotlib figures, kept as a
Jupyter kernel would send them (MIME bundles), in DATA_DIR/STEP_ID/_outputs.json."""

import base64
import json
import os
import subprocess
import sys

import pytest

from chard_runtime import outputs

RUNTIME_DIR = os.path.dirname(os.path.dirname(os.path.abspath(outputs.__file__)))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_step(tmp_path, cells, env=None, before="", args=()):
    """Run a step of `cells` ({cell index: source}) in a fresh interpreter; `before` runs first
    in it (what the preloaded interpreter imported); `args`: more runtime arguments. Returns
    (exit code, stdout, stderr, outputs file)."""
    spec = {"version": 1, "pipeline": "p", "step": "show", "stepId": "show",
            "code": [{"cell": c, "source": s} for c, s in cells.items()], "parameters": {},
            "inputs": [], "outputs": [], "metrics": [], "dataDir": str(tmp_path / "data"),
            "workdir": str(tmp_path)}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    code = before + "\nimport sys, chard_runtime\nsys.exit(chard_runtime.main(sys.argv[1:]))\n"
    proc = subprocess.run([sys.executable, "-c", code, "--spec", str(tmp_path / "spec.json")]
                          + list(args),
                          env=dict(os.environ, PYTHONPATH=RUNTIME_DIR, **(env or {})),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    path = tmp_path / "data" / "show" / outputs.OUTPUTS_FILE
    document = json.loads(path.read_text()) if path.exists() else None
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode(), document


class Rich(object):
    def _repr_html_(self):
        return "<b>rich</b>"

    def _repr_png_(self):
        return PNG_MAGIC + b"fake", {"width": 10}

    def __repr__(self):
        return "Rich()"


class Bundle(object):
    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/markdown": "**md**", "application/json": {"a": [1, 2]}}


class Broken(object):
    def _repr_html_(self):
        raise ValueError("no html today")


class ClaimsEverything(object):
    def __getattr__(self, name):
        return lambda *a, **k: "<i>not a real repr</i>"


def test_an_object_becomes_its_mime_bundle_as_ipython_makes_it():
    data, metadata = outputs.format_display(Rich())
    assert data == {"text/plain": "Rich()", "text/html": "<b>rich</b>",
                    "image/png": base64.b64encode(PNG_MAGIC + b"fake").decode()}
    assert metadata == {"image/png": {"width": 10}}
    data, _ = outputs.format_display(Bundle())
    assert data["text/markdown"] == "**md**" and data["application/json"] == {"a": [1, 2]}
    assert data["text/plain"].startswith("<test_outputs.Bundle object")
    only_html, _ = outputs.format_display(Rich(), include=["text/html"])
    assert list(only_html) == ["text/html"]
    no_png, _ = outputs.format_display(Rich(), exclude=["image/png"])
    assert "image/png" not in no_png and "text/html" in no_png


def test_a_failing_repr_is_left_out_with_a_note_and_a_class_or_a_proxy_is_plain_text(capsys):
    data, _ = outputs.format_display(Broken())
    assert list(data) == ["text/plain"]
    assert "Broken._repr_html_() failed: ValueError: no html today" in capsys.readouterr().err
    assert list(outputs.format_display(Rich)[0]) == ["text/plain"]
    assert list(outputs.format_display(ClaimsEverything())[0]) == ["text/plain"]


def test_a_dataframe_shows_its_html_table():
    pd = pytest.importorskip("pandas")
    data, _ = outputs.format_display(pd.DataFrame({"model": ["a", "b"], "auc": [0.9, 0.8]}))
    assert "<table" in data["text/html"] and "<td>0.9</td>" in data["text/html"]
    assert "model" in data["text/plain"]


def test_the_semicolon_rule_of_jupyter():
    assert outputs._ends_with_semicolon("x = 1\nx;")
    assert outputs._ends_with_semicolon("x;  # quiet\n\n")
    assert not outputs._ends_with_semicolon("x")
    assert not outputs._ends_with_semicolon("s = 'a;'\ns")


def test_display_the_last_value_and_a_failed_repr_in_a_step(tmp_path):
    code, _, err, doc = run_step(tmp_path, {
        0: "class Rich:\n    def _repr_html_(self):\n        return '<b>rich</b>'\n",
        3: "display(Rich(), 'text')\nx = 41\nx + 1",
        4: "x;  # quiet: a trailing semicolon",
        5: "None",
        6: "print('printed goes to the log')\n[x]",
    })
    assert code == 0, err
    shown = [(o["output_type"], o["cell"], sorted(o["data"])) for o in doc["outputs"]]
    assert shown == [
        ("display_data", 3, ["text/html", "text/plain"]),
        ("display_data", 3, ["text/plain"]),
        ("execute_result", 3, ["text/plain"]),
        ("execute_result", 6, ["text/plain"]),
    ]
    assert doc["outputs"][0]["data"]["text/html"] == "<b>rich</b>"
    assert doc["outputs"][1]["data"]["text/plain"] == "'text'"
    assert doc["outputs"][2]["data"]["text/plain"] == "42"
    assert doc["outputs"][3]["data"]["text/plain"] == "[41]"
    assert doc["truncated"] is None


def test_a_step_that_shows_nothing_writes_nothing(tmp_path):
    code, _, err, doc = run_step(tmp_path, {0: "x = 1\nprint(x)"})
    assert code == 0, err
    assert doc is None


def test_what_a_failed_step_showed_before_it_failed_is_kept(tmp_path):
    code, _, err, doc = run_step(tmp_path, {0: "display('before')", 1: "1 / 0"})
    assert code == 1 and "ZeroDivisionError" in err
    assert [o["data"]["text/plain"] for o in doc["outputs"]] == ["'before'"]


def test_ipythons_display_functions_publish_to_the_step(tmp_path):
    pytest.importorskip("IPython")
    code, _, err, doc = run_step(tmp_path, {
        0: "from IPython.display import display, HTML, Markdown, update_display, clear_output",
        1: "display(HTML('<i>html</i>'))\nh = display(Markdown('v1'), display_id=True)\n"
           "h.update(Markdown('v2'))",
        2: "display('gone')\nclear_output()\ndisplay('stays')",
        3: "import IPython.display\nIPython.display.display_png(b'\\x89PNG', raw=True)",
    })
    assert code == 0, err
    data = [o["data"] for o in doc["outputs"]]
    assert data[0]["text/html"] == "<i>html</i>"
    assert data[1]["text/markdown"] == "v2"
    assert data[2] == {"text/plain": "'stays'"}
    assert base64.b64decode(data[3]["image/png"]) == b"\x89PNG"
    assert [o["cell"] for o in doc["outputs"]] == [1, 1, 2, 3]


def test_ipython_imported_before_the_step_publishes_to_it_too(tmp_path):
    pytest.importorskip("IPython")
    code, _, err, doc = run_step(tmp_path, {0: "from IPython.display import display, HTML\n"
                                            "display(HTML('<p>preloaded</p>'))"},
                              before="import IPython.display")
    assert code == 0, err
    assert doc["outputs"][0]["data"]["text/html"] == "<p>preloaded</p>"


FIGURES = {
    0: "import matplotlib.pyplot as plt",
    1: "plt.plot([1, 2, 3])\nplt.title('shown')\nplt.show()\nplt.bar(['a', 'b'], [1, 2])",
    2: "fig, ax = plt.subplots()\nax.plot([3, 2, 1])\ndisplay(fig)\nplt.close(fig)",
    3: "fig = plt.figure()  # nothing drawn: shows nothing, as in Jupyter",
    4: "import matplotlib\nprint('backend', matplotlib.get_backend())",
}


def check_figures(code, out, err, doc):
    assert code == 0, err
    kinds = [(o["output_type"], o["cell"], sorted(o["data"])) for o in doc["outputs"]]
    # As in Jupyter: plt.show()'s figure, the last expression's value, then the figure left open.
    assert kinds == [("display_data", 1, ["image/png", "text/plain"]),
                     ("execute_result", 1, ["text/plain"]),
                     ("display_data", 1, ["image/png", "text/plain"]),
                     ("display_data", 2, ["image/png", "text/plain"])]
    assert doc["outputs"][1]["data"]["text/plain"] == "<BarContainer object of 2 artists>"
    figures = [o for o in doc["outputs"] if "image/png" in o["data"]]
    for output in figures:
        assert base64.b64decode(output["data"]["image/png"]).startswith(PNG_MAGIC)
        assert output["data"]["text/plain"].startswith("<Figure size")
    assert "backend module://chard_runtime_inline" in out


def test_matplotlib_figures_shown_or_left_open_become_pngs_as_with_the_inline_backend(tmp_path):
    pytest.importorskip("matplotlib")
    check_figures(*run_step(tmp_path, FIGURES, env={"MPLBACKEND": "TkAgg", "DISPLAY": ""}))


def test_pyplot_imported_before_the_step_draws_into_it_too(tmp_path):
    pytest.importorskip("matplotlib")
    check_figures(*run_step(tmp_path, FIGURES, before="import matplotlib.pyplot"))


def test_a_subprocess_of_the_step_keeps_its_own_matplotlib_backend(tmp_path):
    pytest.importorskip("matplotlib")
    code, _, err, doc = run_step(tmp_path, {
        0: "import subprocess, sys\n"
           "out = subprocess.check_output([sys.executable, '-c', 'import matplotlib.pyplot as p;"
           " p.plot([1]); p.savefig(\"f.png\"); import matplotlib; print(matplotlib.get_backend())'])"
           "\nprint(out)\nout.strip().decode().lower()"})
    assert code == 0, err
    assert "chard" not in doc["outputs"][0]["data"]["text/plain"]


def test_a_step_keeps_outputs_up_to_its_limits_and_says_what_it_left_out(tmp_path, capsys):
    path = tmp_path / "show" / outputs.OUTPUTS_FILE
    publisher = outputs.RichOutputs(str(path), max_bytes=10_000, max_count=3)
    publisher.cell = 2
    for i in range(5):
        publisher.add({"text/plain": str(i)})
    publisher.add({"text/plain": "x" * 20_000})
    publisher.write()
    doc = json.loads(path.read_text())
    assert [o["data"]["text/plain"] for o in doc["outputs"]] == ["0", "1", "2"]
    assert doc["truncated"]["outputs"] == 3 and doc["truncated"]["bytes"] > 20_000
    assert doc["truncated"]["maxOutputs"] == 3 and doc["truncated"]["maxBytes"] == 10_000
    assert "this output and those after it are not kept" in capsys.readouterr().err
    big = outputs.RichOutputs(str(tmp_path / "big.json"), max_bytes=10_000)
    big.add({"text/plain": "y" * 20_000})
    big.add({"text/plain": "small, but after one left out"})
    big.write()
    doc = json.loads((tmp_path / "big.json").read_text())
    assert doc["outputs"] == [] and doc["truncated"]["outputs"] == 2


def test_a_cluster_step_prints_what_it_showed_as_one_log_line_before_its_error(tmp_path):
    code, out, err, doc = run_step(
        tmp_path, args=["--outputs-to-log"], cells={0: "display(1)\nprint('between')", 1: "import matplotlib.pyplot as plt\n"
                   "plt.plot([1, 2])\nplt.show()\n'last'", 2: "1 / 0"})
    assert code == 1 and err.splitlines()[-1].startswith("CHARD_ERROR ")
    lines = out.splitlines()
    assert lines[0] == "between"
    logged = [json.loads(l[len(outputs.LOG_PREFIX):]) for l in lines
              if l.startswith(outputs.LOG_PREFIX)]
    assert logged == [doc]  # once, the whole document the file holds
    assert [o["cell"] for o in doc["outputs"]] == [0, 1, 1]
    assert base64.b64decode(doc["outputs"][1]["data"]["image/png"]).startswith(PNG_MAGIC)


def test_a_cluster_step_that_showed_nothing_logs_no_outputs_line(tmp_path, capsys):
    publisher = outputs.RichOutputs(str(tmp_path / "o.json"))
    publisher.print_to_log(stream=sys.stdout)
    assert capsys.readouterr().out == ""


def test_the_log_line_keeps_the_first_outputs_that_fit_and_counts_the_others(tmp_path, capsys):
    publisher = outputs.RichOutputs(str(tmp_path / "o.json"))
    publisher.cell = 0
    for i in range(4):
        publisher.add({"text/plain": str(i) * 3000})
    publisher.print_to_log(stream=sys.stdout, max_bytes=1024 + 7000)
    line = capsys.readouterr().out
    assert line.count("\n") == 1 and line.startswith(outputs.LOG_PREFIX)
    doc = json.loads(line[len(outputs.LOG_PREFIX):])
    assert [o["data"]["text/plain"][0] for o in doc["outputs"]] == ["0", "1"]
    assert doc["truncated"]["outputs"] == 2 and doc["truncated"]["bytes"] > 6000
    assert doc["truncated"]["maxBytes"] == 7000
    # The file keeps all four.
    publisher.write()
    assert len(json.loads((tmp_path / "o.json").read_text())["outputs"]) == 4


def test_outputs_are_written_as_they_come_at_most_once_a_second(tmp_path, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(outputs.time, "time", lambda: now[0])
    path = tmp_path / outputs.OUTPUTS_FILE
    publisher = outputs.RichOutputs(str(path))
    publisher.add({"text/plain": "first"})
    assert len(json.loads(path.read_text())["outputs"]) == 1
    now[0] += 0.5
    publisher.add({"text/plain": "second, soon after"})
    assert len(json.loads(path.read_text())["outputs"]) == 1
    now[0] += 0.6
    publisher.add({"text/plain": "third, a second later"})
    assert len(json.loads(path.read_text())["outputs"]) == 3
    leftover = [f for f in os.listdir(tmp_path) if f != outputs.OUTPUTS_FILE]
    assert leftover == []


def test_an_unwritable_outputs_file_is_said_once_and_fails_nothing(tmp_path, capsys):
    (tmp_path / "data").write_text("a file where the step's folder would be")
    publisher = outputs.RichOutputs(str(tmp_path / "data" / "show" / outputs.OUTPUTS_FILE))
    publisher.add({"text/plain": "1"})
    publisher.add({"text/plain": "2"})
    publisher.write()
    assert capsys.readouterr().err.count("cannot save what the step shows in") == 1
    assert len(publisher.outputs) == 2


def test_an_update_over_the_limit_leaves_the_output_as_it_was(tmp_path):
    publisher = outputs.RichOutputs(str(tmp_path / outputs.OUTPUTS_FILE), max_bytes=1000)
    publisher.add({"text/plain": "v1"}, display_id="p")
    publisher.update("p", {"text/plain": "x" * 2000})
    assert publisher.outputs[0]["data"] == {"text/plain": "v1"}
    publisher.update("p", {"text/plain": "v2"})
    assert publisher.outputs[0]["data"] == {"text/plain": "v2"}


def test_display_outside_a_step_prints_as_ipython_does_without_a_kernel(capsys):
    assert outputs._PUBLISHER[0] is None
    outputs.display("plain", 3)
    assert capsys.readouterr().out == "plain 3\n"
