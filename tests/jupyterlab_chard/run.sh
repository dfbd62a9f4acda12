#!/usr/bin/env bash
# The server extension's tests (pytest, in the test virtualenv that scripts/setup-venv.sh made;
# this script installs nothing but Chard's own wheel, built from this checkout, into it).
# `npm run test:server-ext` runs this.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
bash "$ROOT/scripts/setup-venv.sh" --wheel-only
VENV=${CHARD_VENV:-$ROOT/.venv}
cd "$ROOT"
exec "$VENV/bin/python" -m pytest -q -s -p no:cacheprovider tests/jupyterlab_chard
