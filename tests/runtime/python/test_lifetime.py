"""Tying a step's life to the runner's: what the launcher and the zygote rely on."""

import os
import signal
import subprocess
import sys
import time

RUNTIME_DIR = os.path.dirname(os.path.abspath(__import__("lifetime").__file__))


def gone(pid, seconds=5.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def python(code, *args, **kwargs):
    return subprocess.Popen([sys.executable, "-c", code] + [str(a) for a in args],
                            env=dict(os.environ, PYTHONPATH=RUNTIME_DIR), **kwargs)


def test_a_child_tied_to_its_parent_dies_when_the_parent_is_killed():
    parent = python("""
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c",
    "import lifetime, time; lifetime.tie_to_parent(); print('tied', flush=True); time.sleep(60)"],
    stdout=subprocess.PIPE)
child.stdout.readline()
print(child.pid, flush=True)
import time; time.sleep(60)
""", stdout=subprocess.PIPE)
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    assert gone(child)


def test_the_watchdog_kills_the_step_group_once_the_runner_is_gone():
    runner = subprocess.Popen(["sleep", "60"])
    step = python("""
import os, sys, time, lifetime
os.setsid()
me = os.getpid()
if os.fork() == 0:
    lifetime.watch(me, int(sys.argv[1]))
worker = os.fork()
if worker == 0:
    time.sleep(60)
    os._exit(0)
print(worker, flush=True)
time.sleep(60)
""", runner.pid, stdout=subprocess.PIPE)
    worker = int(step.stdout.readline())
    assert not gone(step.pid, 0.5)  # the runner lives: the step keeps running
    runner.kill()
    runner.wait()
    assert step.wait(timeout=5) == -signal.SIGKILL
    assert gone(worker)  # what the step started goes with it
