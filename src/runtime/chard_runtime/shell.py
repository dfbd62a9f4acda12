"""IPython syntax without a kernel: the part of IPython's shell that notebook cells use
(``!cmd``, ``%magics``, ``%%cell magics``), with IPython's own transformer when installed."""

import io
import os
import re
import shlex
import subprocess
import sys
import time
import types

from .errors import cell_file, cell_index, log


# IPython syntax


class SList(list):
    """What `x = !cmd` returns: a list of lines with IPython's .s/.n/.l/.p views."""

    @property
    def l(self):  # noqa: E743
        return list(self)

    @property
    def s(self):
        return " ".join(self)

    @property
    def n(self):
        return "\n".join(self)

    @property
    def p(self):
        return list(self)

    def __reduce__(self):
        return (list, (list(self),))


class CapturedIO(object):
    def __init__(self, stdout, stderr):
        self.stdout = stdout
        self.stderr = stderr
        self.outputs = []

    def show(self):
        sys.stdout.write(self.stdout)
        sys.stderr.write(self.stderr)

    __call__ = show


def _caller_position(depth):
    """(cell, line) of the notebook code that called the shim, or (None, 1)."""
    frame = sys._getframe(depth + 1)
    while frame is not None:
        cell = cell_index(frame.f_code.co_filename)
        if cell is not None:
            return cell, frame.f_lineno, frame
        frame = frame.f_back
    return None, 1, None


def _compile_at(source, cell, line, mode):
    filename = cell_file(cell) if cell is not None else "<magic>"
    return compile("\n" * (max(line, 1) - 1) + source, filename, mode, dont_inherit=True)


ALIASES = ("cat", "cp", "ls", "mkdir", "mv", "rm", "rmdir", "ln")


class Shell(object):
    """The small part of IPython's InteractiveShell that notebook cells use."""

    def __init__(self, namespace):
        self.user_ns = namespace
        self.warned = set()
        self.escapes = []

    # -- shell commands
    def var_expand(self, cmd, frame):
        scope = dict(self.user_ns)
        if frame is not None and frame.f_locals is not frame.f_globals:
            scope.update(frame.f_locals)
        try:
            from IPython.utils.text import DollarFormatter
        except Exception:
            DollarFormatter = None
        if DollarFormatter is not None:
            try:
                return DollarFormatter().vformat(cmd, args=[], kwargs=scope)
            except Exception:
                return cmd

        def sub(m):
            key = m.group(1) or m.group(2)
            return str(scope[key]) if key in scope else m.group(0)

        return re.sub(r"\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)", sub, cmd)

    def system(self, cmd):
        _, _, frame = _caller_position(1)
        cmd = self.var_expand(cmd, frame)
        sys.stdout.flush()
        sys.stderr.flush()
        code = subprocess.call(cmd, shell=True)
        self.user_ns["_exit_code"] = code
        return None

    system_raw = system

    def getoutput(self, cmd, split=True, depth=0):
        _, _, frame = _caller_position(1 + depth)
        cmd = self.var_expand(cmd, frame)
        sys.stdout.flush()
        proc = subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        text = proc.stdout.decode("utf-8", "replace")
        self.user_ns["_exit_code"] = proc.returncode
        return SList(text.splitlines()) if split else text

    # -- magics
    def _skip(self, what, reason):
        if what not in self.warned:
            self.warned.add(what)
            log("skipped %s: %s" % (what, reason))

    def run_line_magic(self, magic_name, line, _stack_depth=1):
        """IPython's signature; called by IPython-transformed cells."""
        cell, lineno, frame = _caller_position(1)
        name = magic_name
        if name == "time":
            return self._time(line, cell, lineno, frame)
        if name == "timeit":
            return self._timeit(line, None, cell, lineno, frame)
        if name == "env":
            return self._env(line)
        if name == "cd":
            return self._cd(line)
        if name == "pwd":
            return os.getcwd()
        if name in ("sx", "system"):
            return self.getoutput(line, depth=1)
        if name in ALIASES:
            return self.system("%s %s" % (name, line))
        if name == "matplotlib":
            return None
        if name in ("pip", "conda", "mamba"):
            self._skip("%%%s %s" % (name, line), "packages are not installed at run time; "
                       "put them in the step image")
            return None
        if name in ("pinfo", "pinfo2"):
            self._skip("%s?" % line, "help does nothing in a pipeline step")
            return None
        self._skip("%%%s" % name, "this magic is not supported in a pipeline step")
        return None

    def run_cell_magic(self, magic_name, line, cell_source):
        cell, lineno, frame = _caller_position(1)
        body_line = lineno + 1
        name = magic_name
        if name == "time":
            return self._time(cell_source, cell, body_line, frame, cell_mode=True)
        if name == "timeit":
            return self._timeit(line, cell_source, cell, body_line, frame)
        if name == "capture":
            return self._capture(line, cell_source, cell, body_line, frame)
        if name == "writefile":
            return self._writefile(line, cell_source)
        if name in ("bash", "sh"):
            return self._script(name, line, cell_source)
        if name in ("pip", "conda"):
            self._skip("%%" + name, "packages are not installed at run time; put them in the "
                       "step image")
            return None
        self._skip("%%%%%s cell" % name, "this cell magic is not supported in a pipeline step")
        return None

    def magic(self, arg_s):
        name, _, rest = arg_s.lstrip("%").partition(" ")
        return self.run_line_magic(name, rest)

    def _scope(self, frame):
        if frame is not None and frame.f_locals is not frame.f_globals:
            return frame.f_globals, frame.f_locals
        return self.user_ns, self.user_ns

    def _run(self, source, cell, line, frame):
        """exec/eval source as notebook code; returns the value of a lone expression."""
        g, l = self._scope(frame)
        try:
            code = _compile_at(source, cell, line, "eval")
        except SyntaxError:
            code = _compile_at(source, cell, line, "exec")
            exec(code, g, l)
            return None
        return eval(code, g, l)

    def _time(self, source, cell, line, frame, cell_mode=False):
        wall0, cpu0 = time.time(), os.times()
        try:
            result = self._run(source, cell, line, frame) if not cell_mode else self._exec_cell(
                source, cell, line, frame)
        finally:
            wall, cpu = time.time() - wall0, os.times()
            user, system = cpu.user - cpu0.user, cpu.system - cpu0.system
            print("CPU times: user %s, sys: %s, total: %s" % (
                _fmt_time(user), _fmt_time(system), _fmt_time(user + system)))
            print("Wall time: %s" % _fmt_time(wall))
        return result

    def _exec_cell(self, source, cell, line, frame):
        g, l = self._scope(frame)
        exec(_compile_at(source, cell, line, "exec"), g, l)
        return None

    def _timeit(self, line, cell_source, cell, lineno, frame):
        opts = {}
        tokens = line.split()
        rest_at = 0
        while rest_at < len(tokens) and tokens[rest_at].startswith("-"):
            flag = tokens[rest_at]
            if flag in ("-n", "-r", "-p") and rest_at + 1 < len(tokens):
                opts[flag] = tokens[rest_at + 1]
                rest_at += 2
            else:
                opts[flag] = True
                rest_at += 1
        rest = " ".join(tokens[rest_at:])
        if cell_source is None:
            setup, stmt, stmt_line = "pass", rest, lineno
        else:
            setup, stmt, stmt_line = rest or "pass", cell_source, lineno
        g, l = self._scope(frame)
        scope = dict(g)
        if l is not g:
            scope.update(l)
        code = _compile_at(stmt, cell, stmt_line, "exec")
        setup_code = compile(setup, "<timeit setup>", "exec")

        def inner(n):
            exec(setup_code, scope)
            start = time.perf_counter()
            for _ in range(n):
                exec(code, scope)
            return time.perf_counter() - start

        number = int(opts.get("-n", 0))
        if not number:
            number = 1
            while inner(number) < 0.2 and number < 10 ** 9:
                number *= 10
        repeat = int(opts.get("-r", 7))
        runs = [inner(number) / number for _ in range(repeat)]
        best = min(runs)
        if "-q" not in opts:
            mean = sum(runs) / len(runs)
            std = (sum((r - mean) ** 2 for r in runs) / len(runs)) ** 0.5
            print("%s ± %s per loop (mean ± std. dev. of %d runs, %d loops each)" % (
                _fmt_time(mean), _fmt_time(std), repeat, number))
        if "-o" in opts:
            return types.SimpleNamespace(best=best, all_runs=[r * number for r in runs],
                                         loops=number, repeat=repeat)
        return None

    def _env(self, line):
        line = line.strip()
        if not line:
            return dict(os.environ)
        if "=" in line:
            key, _, value = line.partition("=")
        elif " " in line:
            key, _, value = line.partition(" ")
        else:
            return os.environ.get(line)
        key, value = key.strip(), value.strip()
        os.environ[key] = value
        print("env: %s=%s" % (key, value))
        return None

    def _cd(self, line):
        target = line.strip()
        args = shlex.split(target) if target else []
        path = os.path.expanduser(args[-1] if args else "~")
        os.chdir(path)
        print(os.getcwd())
        return None

    def _capture(self, line, source, cell, lineno, frame):
        args = shlex.split(line)
        name = next((a for a in args if not a.startswith("-")), None)
        out, err = io.StringIO(), io.StringIO()
        old_out, old_err = sys.stdout, sys.stderr
        if "--no-stdout" not in args:
            sys.stdout = out
        if "--no-stderr" not in args:
            sys.stderr = err
        try:
            self._exec_cell(source, cell, lineno, frame)
        finally:
            sys.stdout, sys.stderr = old_out, old_err
        if name:
            self.user_ns[name] = CapturedIO(out.getvalue(), err.getvalue())
        return None

    def _writefile(self, line, source):
        args = shlex.split(line)
        append = any(a in ("-a", "--append") for a in args)
        names = [a for a in args if not a.startswith("-")]
        if not names:
            raise ValueError("%%writefile needs a file name")
        path = os.path.expanduser(names[0])
        exists = os.path.exists(path)
        with open(path, "a" if append else "w", encoding="utf-8") as f:
            f.write(source)
        print("%s %s" % ("Appending to" if append else ("Overwriting" if exists else "Writing"),
                         names[0]))
        return None

    def _script(self, shell, line, source):
        sys.stdout.flush()
        sys.stderr.flush()
        args = shlex.split(line)
        program = "/bin/bash" if shell == "bash" else "/bin/sh"
        proc = subprocess.run([program], input=source.encode("utf-8"))
        if proc.returncode != 0 and "--no-raise-error" not in args:
            raise subprocess.CalledProcessError(proc.returncode, "%%" + shell)
        return None

    # -- the fallback transform's escapes (only integers are spliced into the cell's code)
    def _chard_escape(self, index):
        kind, a, b = self.escapes[index]
        if kind == "system":
            return self.system(a)
        if kind == "getoutput":
            return self.getoutput(a, depth=1)
        if kind == "line_magic":
            return self.run_line_magic(a, b)
        if kind == "help":
            return self.run_line_magic("pinfo", a)
        raise ValueError(kind)

    def _chard_cell_magic(self, index):
        name, args, body = self.escapes[index]
        return self.run_cell_magic(name, args, body)


def _fmt_time(seconds):
    if seconds >= 1:
        return "%.2f s" % seconds
    if seconds >= 1e-3:
        return "%.2f ms" % (seconds * 1e3)
    if seconds >= 1e-6:
        return "%.2f µs" % (seconds * 1e6)
    return "%.0f ns" % (seconds * 1e9)


_TRANSFORMER = []


def _ipython_transformer():
    if not _TRANSFORMER:
        try:
            from IPython.core.inputtransformer2 import TransformerManager
            _TRANSFORMER.append(TransformerManager())
        except Exception:
            _TRANSFORMER.append(None)
    return _TRANSFORMER[0]


def _realign(original, transformed):
    """Pad the transformed source so each statement stays on its original line number."""
    import difflib
    a = original.splitlines()
    b = transformed.splitlines()
    out = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.extend(b[j1:j2])
        elif tag == "delete":
            out.extend([""] * (i2 - i1))
        else:
            out.extend(b[j1:j2])
            out.extend([""] * max(0, (i2 - i1) - (j2 - j1)))
    return "\n".join(out) + "\n"


def transform_cell(source, shell):
    """IPython syntax -> Python, keeping line numbers."""
    try:
        compile(source, "<check>", "exec", dont_inherit=True)
        return source
    except (SyntaxError, ValueError):
        pass
    manager = _ipython_transformer()
    if manager is not None:
        try:
            transformed = manager.transform_cell(source)
        except Exception:
            return source
        if transformed.rstrip("\n") == source.rstrip("\n"):
            return source
        return _realign(source, transformed)
    return _fallback_transform(source, shell)


ASSIGN_ESCAPE = re.compile(r"^([A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*)\s*=\s*([!%])(.*)$")
HELP_END = re.compile(r"^([A-Za-z_][\w.]*)\s*\?{1,2}$")


def _fallback_transform(source, shell):
    """The common IPython forms, line by line, without IPython. Only indices enter the code."""
    lines = source.splitlines()
    first = next((i for i, text in enumerate(lines) if text.strip()), None)
    if first is not None and lines[first].startswith("%%"):
        head = lines[first][2:]
        name, _, args = head.partition(" ")
        body = "\n".join(lines[first + 1:]) + "\n"
        shell.escapes.append((name, args.strip(), body))
        out = [""] * len(lines)
        out[first] = "get_ipython()._chard_cell_magic(%d)" % (len(shell.escapes) - 1)
        return "\n".join(out) + "\n"
    out = []
    state = _ScanState()
    for text in lines:
        if state.at_statement_start():
            replaced = _escape_line(text, shell)
            if replaced is not None:
                out.append(replaced)
                continue
        state.feed(text)
        out.append(text)
    return "\n".join(out) + "\n"


def _escape_line(text, shell):
    indent = text[:len(text) - len(text.lstrip())]
    body = text.strip()
    entry = None
    prefix = ""
    if body.startswith("!"):
        entry = ("system", body[1:].lstrip("!"), None)
    elif body.startswith("%") and not body.startswith("%%"):
        name, _, rest = body[1:].partition(" ")
        entry = ("line_magic", name, rest.strip())
    else:
        m = ASSIGN_ESCAPE.match(body)
        if m:
            prefix = m.group(1) + " = "
            if m.group(2) == "!":
                entry = ("getoutput", m.group(3).strip(), None)
            else:
                name, _, rest = m.group(3).partition(" ")
                entry = ("line_magic", name, rest.strip())
        else:
            m = HELP_END.match(body)
            if m:
                entry = ("help", m.group(1), None)
    if entry is None:
        return None
    shell.escapes.append(entry)
    return "%s%sget_ipython()._chard_escape(%d)" % (indent, prefix, len(shell.escapes) - 1)


class _ScanState(object):
    """Tracks whether a line starts a new statement (not inside a string, bracket or `\\`)."""

    def __init__(self):
        self.depth = 0
        self.quote = None
        self.continued = False

    def at_statement_start(self):
        return self.depth == 0 and self.quote is None and not self.continued

    def feed(self, text):
        i, n = 0, len(text)
        self.continued = False
        while i < n:
            c = text[i]
            if self.quote is not None:
                if c == "\\":
                    i += 2
                    continue
                if text.startswith(self.quote, i):
                    i += len(self.quote)
                    self.quote = None
                    continue
                i += 1
                continue
            if c == "#":
                break
            if c in "\"'":
                triple = text[i:i + 3]
                self.quote = triple if triple in ('"""', "'''") else c
                i += len(self.quote)
                continue
            if c in "([{":
                self.depth += 1
            elif c in ")]}":
                self.depth = max(0, self.depth - 1)
            i += 1
        if self.quote is not None and len(self.quote) == 1:
            self.quote = None  # unterminated single-quoted string: a syntax error anyway
        if text.endswith("\\") and self.quote is None:
            self.continued = True
