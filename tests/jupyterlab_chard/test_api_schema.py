"""schemathesis against schema/openapi.yaml on a real Jupyter server with Chard: generated
requests (valid and invalid) to every operation, through Jupyter's token authentication and the
server extension's forwarder to the backend, must never get a 5xx, and the backend must not
crash (same process before and after). Bounded to about a minute."""

import subprocess
import sys
from pathlib import Path

from conftest import REPO

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


def test_schemathesis_finds_no_server_error_and_no_crash(server, tmp_path):
    before = server.health()
    args = [
        str(SCHEMATHESIS), "run", str(REPO / "schema" / "openapi.yaml"),
        "--url", server.url,
        "-H", f"Authorization: token {server.token}",
        "--checks", "not_a_server_error",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", "40",
        "--max-time", "75",
        "--seed", "1",
        "--workers", "2",
        "--request-timeout", "20",
        "--suppress-health-check", "all",
        "--generation-database", "none",
        "--no-color",
        "--report-dir", str(tmp_path / "report"),
    ]
    result = subprocess.run(args, capture_output=True, text=True, timeout=110, cwd=tmp_path)
    output = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, f"schemathesis found problems:\n{output}\nserver log:\n{server.log()}"
    after = server.health()
    assert after["pid"] == before["pid"], f"the backend restarted (crashed) during the run:\n{server.log()}"
