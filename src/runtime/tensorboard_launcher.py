"""Chard's TensorBoard launcher: `python -c LAUNCHER BACKEND_PID TENSORBOARD_ARGS...`.

Ties TensorBoard's life to the Chard backend's (lifetime.py: PR_SET_PDEATHSIG on Linux, and a
watchdog in TensorBoard's process group), then runs TensorBoard in this same interpreter
(`tensorboard.main.run_main`), so the tie holds for the process that serves. Exits with
NOT_INSTALLED when `tensorboard` cannot be imported.
"""

import os
import sys

from lifetime import tie_to_parent, watch

NOT_INSTALLED = 3


def launch(argv):
    """Run TensorBoard; argv is BACKEND_PID TENSORBOARD_ARGS... Returns the exit status."""
    parent, me = int(argv[0]), os.getpid()
    tie_to_parent()
    if os.getppid() != parent:
        return 1  # the backend is already gone
    if os.getpgid(0) == me and os.fork() == 0:  # only as the leader of its own group
        watch(me, parent)
    try:
        from tensorboard.main import run_main
    except ImportError as error:
        sys.stderr.write("chard: cannot import tensorboard: %s\n" % error)
        return NOT_INSTALLED
    sys.argv = ["tensorboard"] + argv[1:]
    run_main()
    return 0


if __name__ == "__main__":
    sys.exit(launch(sys.argv[1:]))
