"""The local step launcher and the TensorBoard launcher, each run as the backend runs it:
`python -c SOURCE PARENT_PID ...` in a child of the process that plays the runner."""

import os
import subprocess
import sys

RUNTIME_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "src",
                           "runtime")


def source(name):
    with open(os.path.join(RUNTIME_DIR, name)) as f:
        return f.read()


def launch(name, *args, parent=None, **kwargs):
    """Run launcher `name` as `python -c`, with this process as its runner unless `parent`."""
    env = dict(os.environ, PYTHONPATH=os.path.abspath(RUNTIME_DIR))
    argv = [sys.executable, "-c", source(name), str(parent or os.getpid())] + list(args)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, **kwargs)


def fake_runtime(tmp_path, body):
    (tmp_path / "chard_runtime.py").write_text(body)
    return str(tmp_path)


def test_the_step_launcher_runs_the_runs_runtime_with_its_arguments_and_exits_with_its_status(tmp_path):
    run_dir = fake_runtime(tmp_path, "import sys\ndef main(argv):\n"
                                     "    print('runtime', argv, __file__, flush=True)\n"
                                     "    return 7\n")
    done = launch("launcher.py", run_dir, "--spec", "s.json", "--data-dir", "d")
    assert done.returncode == 7, done.stderr
    assert done.stdout == "runtime ['--spec', 's.json', '--data-dir', 'd'] %s\n" % (
        os.path.join(run_dir, "chard_runtime.py"))


def test_the_step_launcher_leads_its_own_group_with_a_watchdog_and_still_exits_with_the_step(tmp_path):
    run_dir = fake_runtime(tmp_path, "def main(argv):\n    return 0\n")
    done = launch("launcher.py", run_dir, start_new_session=True)
    assert done.returncode == 0, done.stderr


def test_the_step_launcher_runs_nothing_when_its_runner_is_already_gone(tmp_path):
    marker = tmp_path / "ran"
    run_dir = fake_runtime(tmp_path, "def main(argv):\n    open(%r, 'w').close()\n    return 0\n"
                           % str(marker))
    done = launch("launcher.py", run_dir, parent=1)  # its parent is this process, not pid 1
    assert done.returncode == 1
    assert not marker.exists()


def test_the_tensorboard_launcher_says_when_tensorboard_is_not_installed():
    # -S: without site-packages (and dist-packages), whatever this Python has installed.
    argv = [sys.executable, "-S", "-c", source("tensorboard_launcher.py"), str(os.getpid()),
            "--logdir", "x"]
    done = subprocess.run(argv, env=dict(os.environ, PYTHONPATH=os.path.abspath(RUNTIME_DIR)),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    assert done.stderr.startswith("chard: cannot import tensorboard: ")


def test_the_tensorboard_launcher_runs_nothing_when_the_backend_is_already_gone():
    done = launch("tensorboard_launcher.py", "--logdir", "x", parent=1)
    assert done.returncode == 1
    assert done.stderr == ""
