"""Runs through the Jupyter server: a local run survives its backend being killed (the records
stay intact; a client reconnecting with Last-Event-ID gets the run's true end, never "running"
forever), and many event streams held open at once each receive every event, in order."""

import json
import os
import signal
import sys
import threading
import time

import requests

from conftest import pid_alive, wait_until


def write_notebook(root, name, cells):
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [
            {"cell_type": "code", "metadata": {"tags": tags}, "source": source, "outputs": [], "execution_count": None}
            for tags, source in cells
        ],
    }
    (root / name).write_text(json.dumps(nb))


def ticking_notebook(root, name, ticks):
    """A step printing a line every 100 ms, `ticks` times, then a second step."""
    write_notebook(root, name, [
        (["imports"], "import time"),
        (["step:tick"], f"for i in range({ticks}):\n    print('tick', i, flush=True)\n    time.sleep(0.1)\nn = {ticks}"),
        (["step:done", "prev:tick"], "print('done', n)"),
    ])


def start_run(server, name):
    r = server.api("POST", "runs", json={"notebook": name, "target": "local", "local": {"python": sys.executable}})
    assert r.status_code == 201, r.text
    return r.json()


def events(server, run_id, last_event_id=None, on_event=None, timeout=120):
    """Follows /events to its end (or until on_event returns True); the envelopes received."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    got = []
    url = f"{server.url}/chard/api/runs/{run_id}/events"
    headers["Authorization"] = f"token {server.token}"
    with requests.get(url, headers=headers, stream=True, timeout=timeout) as r:
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("text/event-stream")
        fields = {}
        try:
            for line in r.iter_lines(decode_unicode=True):
                if line == "":
                    if "data" in fields:
                        envelope = json.loads(fields["data"])
                        assert fields["event"] == "run-event" and fields["id"] == str(envelope["seq"])
                        got.append(envelope)
                        if on_event and on_event(envelope):
                            return got
                    fields = {}
                elif not line.startswith(":"):
                    key, _, value = line.partition(":")
                    fields[key] = value[1:] if value.startswith(" ") else value
        except requests.exceptions.ChunkedEncodingError:
            pass  # the stream was cut (the backend died): the caller reconnects
    return got


def test_a_run_outlives_nothing_when_its_backend_is_killed(server):
    ticking_notebook(server.root, "slow.ipynb", 600)
    first = server.health()["pid"]
    run = start_run(server, "slow.ipynb")
    run_id = run["record"]["id"]
    assert run["notebook"] == "slow.ipynb" and not run["dir"].startswith("/")

    seen = events(server, run_id, on_event=lambda e: e["event"].get("line") == "tick 5")
    last = seen[-1]["seq"]
    os.kill(first, signal.SIGKILL)
    killed = time.monotonic()

    def restarted():
        r = server.api("GET", "health")
        return r.status_code == 200 and r.json()["pid"] != first

    assert wait_until(restarted, 10), server.log()
    elapsed = time.monotonic() - killed
    print(f"\n  backend restarted {elapsed * 1000:.0f} ms after SIGKILL during a run (goal: < 2000 ms)")
    assert elapsed < 2.0

    # The reconnecting client gets what it missed and the run's true end; no event twice.
    rest = events(server, run_id, last_event_id=last, timeout=30)
    assert [e["seq"] for e in rest] == list(range(last + 1, last + 1 + len(rest)))
    final = rest[-1]["event"]
    assert final["event"] == "run-finished" and final["status"] in ("failed", "cancelled"), final
    details = server.api("GET", f"runs/{run_id}").json()
    assert details["record"]["status"] == final["status"]
    assert [s["name"] for s in details["record"]["steps"]] == ["tick", "done"]
    assert all(s["status"] not in ("running", "pending") for s in details["record"]["steps"])
    # The run's step processes died with their runner.
    step_pids = (details["record"].get("pids") or {}).get("steps", {})
    assert wait_until(lambda: not any(pid_alive(p) for p in step_pids.values()), 5)
    listed = server.api("GET", "runs", params={"notebook": "slow.ipynb"}).json()["runs"]
    assert [r["id"] for r in listed] == [run_id]


def test_twenty_streams_held_open_for_a_minute_each_get_every_event_in_order(server):
    ticking_notebook(server.root, "ticks.ipynb", 600)  # 60 s of a line every 100 ms
    server.health()
    run_id = start_run(server, "ticks.ipynb")["record"]["id"]
    results = [None] * 20
    errors = []

    def follow(i):
        try:
            results[i] = events(server, run_id, timeout=150)
        except Exception as error:  # reported below
            errors.append(repr(error))

    threads = [threading.Thread(target=follow, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not errors, errors
    reference = [e["seq"] for e in results[0]]
    assert results[0][-1]["event"]["event"] == "run-finished"
    assert results[0][-1]["event"]["status"] == "succeeded"
    lines = [e["event"]["line"] for e in results[0] if e["event"]["event"] == "log" and e["event"]["step"] == "tick"]
    ticks = [line for line in lines if line.startswith("tick ")]
    assert ticks == [f"tick {i}" for i in range(600)]
    assert reference == list(range(1, len(reference) + 1))
    for got in results:
        assert got == results[0]


def backend_sockets(pid):
    """How many sockets the backend process holds open."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                count += 1
        except FileNotFoundError:
            pass
    return count


def test_a_stream_the_browser_closes_is_closed_on_the_backend_too(server):
    ticking_notebook(server.root, "closing.ipynb", 300)
    # The run prints a line every 100 ms.
    streams_are_released_when_closed(server, "closing.ipynb")


def test_an_idle_stream_the_browser_closes_is_closed_on_the_backend_at_once(server):
    # Nothing happens in the run for a minute: no event, and the backend's `: ping` only every
    # 15 s; the forwarder closes its connection to the backend as soon as the browser's closes.
    write_notebook(server.root, "quiet.ipynb", [
        (["imports"], "import time"),
        (["step:wait"], "time.sleep(60)\nn = 1"),
    ])
    streams_are_released_when_closed(server, "quiet.ipynb")


def streams_are_released_when_closed(server, name):
    pid = server.health()["pid"]
    run_id = start_run(server, name)["record"]["id"]
    time.sleep(0.5)
    before = backend_sockets(pid)
    streams = []
    for _ in range(5):
        session = requests.Session()
        r = session.get(
            f"{server.url}/chard/api/runs/{run_id}/events",
            headers={"Accept": "text/event-stream", "Authorization": f"token {server.token}"},
            stream=True, timeout=30,
        )
        lines = r.iter_lines()  # kept: dropping the generator closes the connection
        next(lines)
        streams.append((session, r, lines))
    assert wait_until(lambda: backend_sockets(pid) >= before + 5, 5), "the streams did not reach the backend"
    for session, r, _lines in streams:
        r.close()
        session.close()
    assert wait_until(lambda: backend_sockets(pid) <= before, 5), (
        f"the backend still holds {backend_sockets(pid) - before} streams the browser closed"
    )
    server.api("POST", f"runs/{run_id}/cancel")
