#!/usr/bin/env bash
# The virtualenv of the KFP SDK checks (tests/kfp, `npm run test:kfp`): the real `kfp` and
# `kfp-kubernetes` from PyPI at the versions of requirements/kfp.txt and kfp-constraints.txt.
# Its own virtualenv (default .venv-kfp/ in the checkout), not JupyterLab's .venv: kfp 2.17 needs
# protobuf < 7 and JupyterLab's has protobuf 7.
# Made from Debian's python3 with --system-site-packages: kfp.local runs the example's steps with
# this virtualenv's Python, and the example needs numpy, pandas and scikit-learn, which .ci/run
# installs from Debian (so nothing that large is downloaded twice).
# Idempotent: reinstalls only when the requirements or the Python changed. Run by .ci/run;
# `npm test` installs nothing (tests/kfp/run.sh checks that this ran).
# Env: CHARD_KFP_VENV (the virtualenv's folder), CHARD_KFP_PYTHON (the interpreter that creates it,
# default /usr/bin/python3).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${CHARD_KFP_VENV:-$ROOT/.venv-kfp}
PYTHON=${CHARD_KFP_PYTHON:-/usr/bin/python3}
start=$(date +%s)
say() { echo "[setup-kfp $(($(date +%s) - start))s] $*" >&2; }
cd "$ROOT"

if ! "$PYTHON" -c 'import numpy, pandas, sklearn' >/dev/null 2>&1; then
  echo "chard: $PYTHON cannot import numpy, pandas and scikit-learn, which the KFP checks run" \
    "the example with; install python3-numpy python3-pandas python3-sklearn (Debian) or set" \
    "CHARD_KFP_PYTHON to a Python that has them" >&2
  exit 1
fi
stamp() { cat requirements/kfp.txt requirements/kfp-constraints.txt | sha256sum | cut -d' ' -f1; "$VENV/bin/python" --version; }
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.chard-requirements" 2>/dev/null)" = "$(stamp)" ]; then
  say "ready: $VENV (up to date)"
  exit 0
fi
rm -rf "$VENV"
say "creating $VENV with $("$PYTHON" --version 2>&1) ($PYTHON, with its site packages)"
"$PYTHON" -m venv --system-site-packages "$VENV"
say "installing kfp and kfp-kubernetes (pip, requirements/kfp.txt)"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
  -r requirements/kfp.txt -c requirements/kfp-constraints.txt
stamp > "$VENV/.chard-requirements"
say "ready: $VENV (kfp $("$VENV/bin/python" -c 'import kfp; print(kfp.__version__)'))"
