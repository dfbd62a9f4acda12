"""Fixtures for the server extension's tests: real Jupyter servers from the test virtualenv
(scripts/setup-venv.sh), each with its own token, root folder and state folders."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
NOTEBOOK = REPO / "tests" / "e2e-lab" / "notebooks" / "churn.ipynb"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_until(predicate, timeout, step=0.02):
    """Polls predicate until it returns a true value; that value, or None after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


class JupyterServer:
    """`jupyter server` in a subprocess, with Chard's extension enabled by its installed config."""

    def __init__(self, tmp, python=sys.executable, env=None):
        self.tmp = Path(tmp)
        self.root = self.tmp / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.copy(NOTEBOOK, self.root / "churn.ipynb")
        self.port = free_port()
        self.token = "test-token-" + os.urandom(8).hex()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.tmp / "server.log"
        bindir = os.path.dirname(python)
        self.env = dict(os.environ)
        self.env.update(
            JUPYTER_TOKEN=self.token,
            JUPYTER_CONFIG_DIR=str(self.tmp / "config"),
            JUPYTER_DATA_DIR=str(self.tmp / "data"),
            JUPYTER_RUNTIME_DIR=str(self.tmp / "runtime"),
            PATH=bindir + os.pathsep + self.env.get("PATH", ""),
            # The backend's run index: this server's, never the user's.
            CHARD_STATE_DIR=str(self.tmp / "state"),
        )
        self.env.update(env or {})
        self.args = [
            python, "-m", "jupyter_server", "--no-browser", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            "--ServerApp.allow_root=True", f"--ServerApp.root_dir={self.root}",
        ]
        self.proc = None

    def start(self):
        self._log = open(self.log_path, "wb")
        # cwd: the tmp folder, so that the installed jupyterlab_chard is tested, not the checkout's.
        self.proc = subprocess.Popen(
            self.args, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, cwd=self.tmp
        )
        ok = wait_until(self._answers, 60, 0.1)
        assert ok, f"the Jupyter server did not start; log:\n{self.log()}"
        return self

    def _answers(self):
        assert self.proc.poll() is None, f"the Jupyter server exited; log:\n{self.log()}"
        try:
            return requests.get(f"{self.url}/api/status", params={"token": self.token}, timeout=2).ok
        except requests.ConnectionError:
            return False

    def log(self):
        return self.log_path.read_text(errors="replace")[-4000:]

    def api(self, method, endpoint, **kwargs):
        """An authenticated request (token in the Authorization header, as JupyterLab's does)."""
        headers = {"Authorization": f"token {self.token}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}/chard/api/{endpoint}", headers=headers, timeout=30, **kwargs)

    def health(self, timeout=30):
        """The backend's health once it is ready (it starts with the server)."""
        def ready():
            r = self.api("GET", "health")
            return r.json() if r.status_code == 200 else None
        health = wait_until(ready, timeout, 0.05)
        assert health, f"the Chard backend never became ready; log:\n{self.log()}"
        return health

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture
def server(tmp_path):
    srv = JupyterServer(tmp_path).start()
    yield srv
    backend_pid = None
    try:
        backend_pid = srv.api("GET", "health").json().get("pid")
    except Exception:
        pass
    srv.stop()
    if backend_pid:
        wait_until(lambda: not pid_alive(backend_pid), 5)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    srv = JupyterServer(tmp_path_factory.mktemp("shared")).start()
    yield srv
    srv.stop()
