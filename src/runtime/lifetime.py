"""Tying a step's life to the local runner's (shared by launcher.py and zygote.py).

Constant code; it defines functions and runs nothing.
"""

import os


def tie_to_parent():
    """On Linux, have the kernel SIGKILL this process the moment its parent exits."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (ImportError, OSError, AttributeError):
        pass  # not Linux: the watchdog alone


def watch(parent, runner):
    """In a forked child of `parent`: SIGKILL this process group once `parent` or `runner` is gone."""
    import time
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    try:
        while os.getppid() == parent:
            os.kill(runner, 0)
            time.sleep(0.2)
    except OSError:
        pass
    os.killpg(0, 9)
    os._exit(0)
