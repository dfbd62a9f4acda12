"""What the runtime reports: its error types, its log lines, and notebook errors as the user's
Python would show them (cells and lines, no runtime frames) plus the ``CHARD_ERROR`` line."""

import json
import os
import re
import sys
import traceback

# Notebook code runs under the file name "<cell N>", N numbered from 1 as JupyterLab shows cells
# ("Cell N/M"), so every traceback, warning and error names the cell the user sees; the runtime's
# data (the spec, CHARD_ERROR) keeps 0-based cell indices.
CELL_FILE = re.compile(r"^<cell (\d+)>$")


def cell_file(index):
    """The file name of the code of notebook cell `index` (0-based)."""
    return "<cell %d>" % (index + 1)


def cell_index(filename):
    """The 0-based index of the cell whose code has this file name, or None."""
    m = CELL_FILE.match(filename or "")
    return int(m.group(1)) - 1 if m else None


def _runtime_files():
    """The runtime's own source files (this package's modules, or the one generated file)."""
    names = [__name__, __package__ or __name__]
    return set(os.path.abspath(getattr(module, "__file__", None) or "")
               for name, module in list(sys.modules.items())
               if any(name == n or name.startswith(n + ".") for n in names if n != "__main__")
               ) | {os.path.abspath(__file__)}


class UsageError(Exception):
    """Bad command line or spec: exit 2."""


class MarshalError(Exception):
    """A value cannot be saved or loaded: exit 1."""


def log(message):
    sys.stdout.flush()
    sys.stderr.write("chard: " + message + "\n")
    sys.stderr.flush()


def _one_line(e):
    text = str(e).strip().replace("\n", " ")
    return "%s: %s" % (type(e).__name__, text) if text else type(e).__name__


class UserCodeError(Exception):
    def __init__(self, exc):
        Exception.__init__(self, str(exc))
        self.exc = exc


def _notebook_frames(tb):
    frames = []
    for fs in traceback.extract_tb(tb):
        if os.path.abspath(fs.filename) in _runtime_files():
            continue
        frames.append(fs)
    return frames


def _format_exception(exc, sources, seen=None):
    seen = seen if seen is not None else set()
    seen.add(id(exc))
    lines = []
    cause = exc.__cause__
    context = exc.__context__
    if cause is not None and id(cause) not in seen:
        lines.extend(_format_exception(cause, sources, seen))
        lines.append("\nThe above exception was the direct cause of the following exception:\n\n")
    elif (context is not None and not exc.__suppress_context__ and id(context) not in seen):
        lines.extend(_format_exception(context, sources, seen))
        lines.append("\nDuring handling of the above exception, another exception occurred:\n\n")
    frames = _notebook_frames(exc.__traceback__)
    if frames:
        lines.append("Traceback (most recent call last):\n")
    for fs in frames:
        cell = cell_index(fs.filename)
        if cell is not None:
            lines.append("  cell %d, line %d, in %s\n" % (cell + 1, fs.lineno, fs.name))
            text = _source_line(sources, cell, fs.lineno)
        else:
            lines.append('  File "%s", line %d, in %s\n' % (fs.filename, fs.lineno, fs.name))
            text = fs.line
        if text:
            lines.append("    %s\n" % text.strip())
    if isinstance(exc, SyntaxError) and cell_index(exc.filename) is not None:
        cell = cell_index(exc.filename)
        lines.append("  cell %d, line %s\n" % (cell + 1, exc.lineno))
        text = _source_line(sources, cell, exc.lineno or 0)
        if text:
            lines.append("    %s\n" % text.strip())
        lines.append("%s: %s\n" % (type(exc).__name__, exc.msg))
    else:
        lines.extend(traceback.format_exception_only(type(exc), exc))
    return lines


def _source_line(sources, cell, line):
    text = sources.get(cell)
    if text is None or line < 1:
        return None
    parts = text.splitlines()
    return parts[line - 1] if line <= len(parts) else None


def _error_position(exc):
    """The innermost notebook frame: (0-based cell index, line)."""
    if isinstance(exc, SyntaxError) and cell_index(exc.filename) is not None:
        return cell_index(exc.filename), exc.lineno
    position = (None, None)
    for fs in _notebook_frames(exc.__traceback__):
        cell = cell_index(fs.filename)
        if cell is not None:
            position = (cell, fs.lineno)
    return position


def report_error(cell, line, type_name, message):
    sys.stdout.flush()
    record = {"cell": cell, "line": line, "type": type_name, "message": message}
    sys.stderr.write("CHARD_ERROR " + json.dumps(record) + "\n")
    sys.stderr.flush()
