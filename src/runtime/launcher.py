"""Chard's local step launcher: `python -c LAUNCHER RUNNER_PID RUN_DIR --spec SPEC`.

Ties the step's life to the runner's (lifetime.py), then runs the step runtime
(RUN_DIR/chard_runtime.py) imported as a module, so Python caches its compiled form.
"""

import os
import sys

from lifetime import exit_step, tie_to_parent, watch


def launch(argv):
    """Run the step; argv is RUNNER_PID RUN_DIR RUNTIME_ARGS... Returns the exit status."""
    runner, launcher = int(argv[0]), os.getpid()
    tie_to_parent()
    if os.getppid() != runner:
        return 1  # the runner is already gone
    if os.getpgid(0) == launcher and os.fork() == 0:  # only as the leader of its own group
        watch(launcher, runner)
    sys.path.insert(0, argv[1])
    import chard_runtime
    del sys.path[0]
    return chard_runtime.main(argv[2:])


if __name__ == "__main__":
    exit_step(launch(sys.argv[1:]))
