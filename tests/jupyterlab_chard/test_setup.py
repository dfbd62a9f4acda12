"""`npm test` installs nothing: its stages that need the virtualenv stop with a clear message
when it is missing, without creating it or installing anything (issue 13)."""

import os
import subprocess

from conftest import REPO


def run_script(script, tmp_path, *args):
    env = {
        **os.environ,
        "CHARD_VENV": str(tmp_path / "no-venv"),
        "CHARD_LAB_E2E_DIR": str(tmp_path / "e2e-state"),
        # Would fail loudly if anything tried to reach a registry.
        "PIP_INDEX_URL": "http://127.0.0.1:9/",
        "npm_config_registry": "http://127.0.0.1:9/",
    }
    return subprocess.run(["bash", str(REPO / script), *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_wheel_step_of_the_tests_refuses_to_install_a_missing_virtualenv(tmp_path):
    result = run_script("scripts/setup-venv.sh", tmp_path, "--wheel-only")
    assert result.returncode == 2, result.stderr
    assert "bash scripts/setup-venv.sh" in result.stderr
    assert "npm test installs nothing" in result.stderr
    assert not (tmp_path / "no-venv").exists()


def test_the_browser_test_stops_before_installing_anything_without_the_virtualenv(tmp_path):
    result = run_script("tests/e2e-lab/run.sh", tmp_path)
    assert result.returncode == 2, result.stderr
    assert "virtualenv with JupyterLab and Chard is missing" in result.stderr
    assert "scripts/setup-venv.sh" in result.stderr
    assert not (tmp_path / "no-venv").exists()
    assert not (tmp_path / "e2e-state" / "notebooks").exists()
