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


def exit_step(code):
    """End a step's process with `code` at once, keeping what a normal exit gives the step.

    Python's own teardown of an interpreter holding numpy, pandas or scikit-learn takes 0.4 to
    1 s, on every step's critical path. Instead: wait for the step's non-daemon threads, run its
    atexit handlers, release its globals and collect (so files it left open are flushed and
    closed, as at a normal exit; in a step forked from the zygote, which froze what it holds,
    the collection sees only what the step made), flush the standard streams, and leave
    without tearing the interpreter down.
    """
    import gc
    import os as _os
    import sys
    if code is not None and not isinstance(code, int):
        sys.stderr.write("%s\n" % (code,))  # as sys.exit does with a message
        code = 1
    try:
        import threading
        shutdown = getattr(threading, "_shutdown", None)
        if shutdown is not None:
            shutdown()
        import atexit
        atexit._run_exitfuncs()
        main = sys.modules.get("__main__")
        if main is not None and main.__dict__ is not globals():  # the step's, not the launcher's
            main.__dict__.clear()
        gc.collect()
    except BaseException:  # noqa: B036 - whatever a handler raises, the step's code stands
        code = code or 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    _os._exit(0 if code is None else code if isinstance(code, int) else 1)
