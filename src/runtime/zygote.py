"""Chard's preloaded interpreter for local runs: `python -c ZYGOTE RUNNER_PID RUNTIME_DIR PLAN_JSON`.

Imports the step runtime (RUNTIME_DIR/chard_runtime.py) and the installed modules the plan's
`imports` cells name, then forks one child per step on request (see src/server/local/zygote.ts
for the guarantees); a request names the run it belongs to (its folder), so one zygote may serve
several runs of a notebook. Requests and replies are JSON lines on stdin and the original stdout.
The ready message names the files of the preloaded packages (to tell when they change).
"""

import json
import os
import select
import signal
import sys

from lifetime import exit_step, tie_to_parent, watch


def statements(source):
    """The cell's statements; for IPython syntax, its lines up to the first Python cannot read."""
    import ast
    try:
        return ast.parse(source).body
    except (SyntaxError, ValueError):
        body = []
        for line in source.splitlines():
            if line.strip() and not line.strip().startswith("#"):
                try:
                    body.extend(ast.parse(line.strip()).body)
                except (SyntaxError, ValueError):
                    body.append(None)
                    break
        return body


def module_names(sources):
    """The modules the imports cells import before anything else happens: code that runs
    before an import (setting os.environ, sys.path, warning filters...) may change what it
    does, so the modules after the first other statement are left to the step."""
    import ast
    names = []
    for source in sources:
        for node in statements(source):
            if isinstance(node, ast.Import):
                names.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.append(node.module)
            elif not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
                return names
    return names


def installed(name, workspace):
    """Whether module `name` is installed outside the workspace (local modules stay the step's)."""
    import importlib.util
    top = name.split(".")[0]
    if top in sys.modules:
        return True
    spec = importlib.util.find_spec(top)
    if spec is None:
        return False
    places = [spec.origin] if spec.has_location and spec.origin else []
    places.extend(spec.submodule_search_locations or [])
    for place in places:
        real = os.path.realpath(place)
        if real == workspace or real.startswith(workspace + os.sep):
            return False
    return True


def preload(plan_file):
    """Import the installed modules the plan's imports cells name; returns their names."""
    import importlib
    try:
        with open(plan_file, encoding="utf-8") as f:
            blocks = json.load(f)["imports"]
        sources = [b["source"] for b in blocks
                   if isinstance(b, dict) and isinstance(b.get("source"), str)]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    workspace, loaded = os.path.realpath(os.getcwd()), []
    for name in module_names(sources):
        try:
            if installed(name, workspace):
                importlib.import_module(name)
                loaded.append(name)
        except BaseException:
            pass  # the step imports it (and reports what goes wrong)
    return loaded


def serve(argv):
    """Preload, then fork steps on request until stdin ends. argv: RUNNER_PID RUN_DIR PLAN."""
    runner, zygote, run_dir = int(argv[0]), os.getpid(), argv[1]
    tie_to_parent()
    if os.getppid() != runner:
        sys.exit(1)  # the runner is already gone
    replies = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 1)  # stray output of the imports goes nowhere near the replies

    loaded = preload(argv[2])
    sys.path.insert(0, run_dir)
    import chard_runtime
    del sys.path[0]

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    children = {}

    def send(message):
        data = (json.dumps(message) + "\n").encode("utf-8")
        while data:
            data = data[os.write(replies, data):]

    def watchdog(step):
        if os.fork() == 0:
            watch(step, runner)

    def step(request, outs):
        os.setsid()
        tie_to_parent()
        if os.getppid() != zygote:
            os._exit(1)  # the zygote is already gone
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in (wake_r, wake_w, replies):
            os.close(fd)
        os.dup2(null, 0)
        os.dup2(outs[0], 1)
        os.dup2(outs[1], 2)
        for fd in outs:
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["-c", str(runner), request.get("runDir", run_dir)] + request["argv"]
        watchdog(os.getpid())
        if "numpy.random" in sys.modules:
            try:
                sys.modules["numpy.random"].seed()
            except Exception:
                pass
        try:
            code = chard_runtime.main(request["argv"])
        except SystemExit as e:
            code = e.code
        except BaseException:  # noqa: B036 - never back into the zygote's loop
            import traceback
            traceback.print_exc()
            code = 1
        exit_step(code)

    def fork(request):
        outs = []
        try:
            for name in ("stdout", "stderr"):
                outs.append(os.open(request[name], os.O_WRONLY | os.O_NONBLOCK))
                os.set_blocking(outs[-1], True)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
        except (OSError, KeyError, TypeError) as e:
            for fd in outs:
                os.close(fd)
            return send({"id": request.get("id"), "error": str(e)})
        if pid == 0:
            step(request, outs)
        for fd in outs:
            os.close(fd)
        children[pid] = request["id"]
        send({"id": request["id"], "pid": pid})

    def handle(request):
        if "mkfifo" in request:
            try:
                for name in request["mkfifo"]:
                    os.mkfifo(name, 0o600)
            except (OSError, TypeError) as e:
                return send({"id": request["id"], "error": str(e)})
            return send({"id": request["id"], "ok": True})
        fork(request)

    def reap():
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            ident = children.pop(pid, None)
            if ident is None:
                continue
            if os.WIFSIGNALED(status):
                send({"id": ident, "exit": None, "signal": os.WTERMSIG(status)})
            else:
                send({"id": ident, "exit": os.WEXITSTATUS(status), "signal": None})

    # What the zygote holds stays out of the steps' collections (a step's exit collects only
    # what it made: lifetime.exit_step), and its pages stay shared with the steps.
    import gc
    gc.collect()
    gc.freeze()
    files = {}
    for name in loaded:
        top = sys.modules.get(name.split(".")[0])
        if isinstance(getattr(top, "__file__", None), str):
            files[top.__name__] = top.__file__
    send({"ready": zygote, "preloaded": loaded, "files": files})
    pending = b""
    while True:
        readable = select.select([0, wake_r], [], [])[0]
        if wake_r in readable:
            os.read(wake_r, 4096)
        reap()
        if 0 in readable:
            chunk = os.read(0, 65536)
            if not chunk:
                break  # the runner is done (or gone): steps still running die with the zygote
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                handle(json.loads(line))


if __name__ == "__main__":
    serve(sys.argv[1:])
