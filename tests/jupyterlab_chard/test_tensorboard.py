"""TensorBoard through the Jupyter server: started by Chard on real event files, reachable only
with Jupyter's token, and gone when its panel closes and when the server stops (even SIGKILL)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from conftest import REPO, JupyterServer, pid_alive, wait_until

WRITE_RUNS = REPO / "tests" / "fixtures" / "tensorboard" / "write_runs.py"


def write_runs(root):
    out = subprocess.run([sys.executable, str(WRITE_RUNS), str(root)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


class Board:
    def __init__(self, server, session):
        self.server = server
        self.session = session
        self.base = f"{server.url}/{session['url']}"

    def get(self, path, token=True, **kwargs):
        headers = {"Authorization": f"token {self.server.token}"} if token else {}
        return requests.get(self.base + path, headers=headers, timeout=30, allow_redirects=False,
                            **kwargs)

    def tags(self, want):
        def loaded():
            r = self.get("data/plugin/scalars/tags")
            return r.status_code == 200 and len(r.json()) >= want and r.json()
        return wait_until(loaded, 30, 0.2)


def open_board(server, runs, **extra):
    r = server.api("POST", "tensorboard/open",
                   json={"notebook": "train.ipynb", "runs": runs, **extra})
    assert r.status_code == 200, r.text
    return Board(server, r.json())


@pytest.fixture
def tb_server(tmp_path):
    srv = JupyterServer(tmp_path)
    srv.args.append("--ChardExtension.tensorboard_idle_timeout=600")
    srv.start()
    srv.runs = write_runs(srv.root)
    srv.health()
    yield srv
    srv.stop()


def test_scalars_of_several_runs_through_the_authenticated_path(tb_server):
    runs = tb_server.runs
    board = open_board(tb_server, [runs["runA"], runs["runB"]])
    assert board.session["target"] == "local" and board.session["started"] is True
    assert {d["name"] for d in board.session["logdirs"]} == {runs["runA"], runs["runB"]}
    tags = board.tags(3)
    assert tags, tb_server.log()
    assert set(tags) == {f"{runs['runA']}/train", f"{runs['runA']}/evaluate", f"{runs['runB']}/."}
    r = board.get("data/plugin/scalars/scalars", params={"run": f"{runs['runA']}/evaluate", "tag": "accuracy"})
    assert r.status_code == 200, r.text
    points = r.json()
    assert [p[1] for p in points] == list(range(runs["steps"]))
    for _, step, value in points:
        assert value == pytest.approx(1 - 1 / (step + 1), abs=1e-5)
    # TensorBoard's page itself comes through too.
    page = board.get("")
    assert page.status_code == 200 and "<html" in page.text.lower()


def test_no_token_no_tensorboard(tb_server):
    board = open_board(tb_server, [tb_server.runs["runB"]])
    assert board.tags(1)
    r = board.get("data/plugin/scalars/tags", token=False)
    assert r.status_code in (302, 403), r.status_code
    assert "loss" not in r.text
    r = requests.get(board.base + "data/plugin/scalars/tags", params={"token": "wrong"}, timeout=10,
                     allow_redirects=False)
    assert r.status_code in (302, 403)
    # With Jupyter's login cookie (as the panel's iframe has), a POST without TensorBoard's CSRF
    # header (a cross-site form) is refused before it reaches TensorBoard; TensorBoard's own
    # frontend sends the header and gets through.
    browser = requests.Session()
    assert browser.get(board.base, params={"token": tb_server.token}, timeout=30).status_code == 200
    assert browser.cookies, "no login cookie was set"
    form = {"requests": json.dumps([{"plugin": "scalars", "tag": "loss", "run": f"{tb_server.runs['runB']}/."}])}
    url = board.base + "data/plugin/timeseries/timeSeries"
    assert browser.post(url, data=form, timeout=10).status_code == 403
    r = browser.post(url, data=form, headers={"X-XSRF-Protected": "1"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()[0]["runToSeries"]
    assert requests.post(url, data=form, headers={"X-XSRF-Protected": "1"}, timeout=10).status_code == 403
    # The backend's own answer about the port is not reachable from the browser either.
    r = requests.get(f"{tb_server.url}/chard/api/tensorboard/target", params={"id": board.session["id"]},
                     timeout=10)
    assert r.status_code == 403


def test_the_process_stops_when_its_last_panel_closes(tb_server):
    first = open_board(tb_server, [tb_server.runs["runB"]])
    assert first.tags(1)
    second = open_board(tb_server, [tb_server.runs["runB"]])
    assert second.session["id"] == first.session["id"] and second.session["started"] is False
    port = tb_server.api("GET", "tensorboard/target")  # the browser cannot ask for the port
    assert port.status_code in (400, 404)
    pid = wait_until(lambda: tensorboard_pid_of(tb_server, first), 10)
    assert pid and pid_alive(pid)
    close = lambda: tb_server.api("POST", "tensorboard/close", json={"id": first.session["id"]})
    assert close().status_code == 200
    assert first.get("data/plugin/scalars/tags").status_code == 200  # one panel is still open
    assert close().status_code == 200
    assert wait_until(lambda: not pid_alive(pid), 5), "TensorBoard outlived its last panel"
    r = first.get("data/plugin/scalars/tags")
    assert r.status_code == 404 and "open TensorBoard again" in r.text


def tensorboard_pid_of(server, board):
    """The pid of the TensorBoard behind a board: the listener of the port the backend knows."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        prefix = f"chard/tensorboard/{board.session['id']}".encode()
        if any(prefix in part for part in cmd) and b"--logdir_spec" in cmd:
            return int(pid)
    return None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_tensorboard_stops_with_the_jupyter_server(tmp_path, sig):
    server = JupyterServer(tmp_path).start()
    server.runs = write_runs(server.root)
    server.health()
    board = open_board(server, [server.runs["runA"]])
    assert board.tags(2)
    pid = tensorboard_pid_of(server, board)
    assert pid and pid_alive(pid)
    server.proc.send_signal(sig)
    server.proc.wait(15)
    stopped = time.monotonic()
    gone = wait_until(lambda: not pid_alive(pid), 10)
    print(f"\n  TensorBoard gone {1000 * (time.monotonic() - stopped):.0f} ms after {sig.name} of the server")
    server.stop()
    assert gone, f"TensorBoard (pid {pid}) outlived the Jupyter server ({sig.name})"


def test_idle_timeout(tmp_path):
    server = JupyterServer(tmp_path)
    server.args.append("--ChardExtension.tensorboard_idle_timeout=2")
    server.start()
    server.runs = write_runs(server.root)
    server.health()
    try:
        board = open_board(server, [server.runs["runB"]])
        assert board.tags(1)
        pid = tensorboard_pid_of(server, board)
        assert pid
        assert wait_until(lambda: not pid_alive(pid), 10), "TensorBoard outlived the idle timeout"
        assert board.get("data/plugin/scalars/tags").status_code == 404
    finally:
        server.stop()


def test_not_installed_says_how_to_install(tmp_path):
    server = JupyterServer(tmp_path)
    server.args.append(f"--ChardExtension.tensorboard_python={tmp_path / 'nopython'}")
    server.start()
    server.runs = write_runs(server.root)
    server.health()
    try:
        r = server.api("POST", "tensorboard/open", json={"notebook": "train.ipynb", "runs": [server.runs["runB"]]})
        assert r.status_code == 424, r.text
        error = r.json()["error"]
        assert error["code"] == "tensorboard-not-installed"
        assert "pip install tensorboard" in error["message"]
    finally:
        server.stop()
