#!/usr/bin/env bash
# `npm run lab [-- FOLDER]`: a real JupyterLab 4 with Chard in it, serving FOLDER (default:
# examples/), on http://127.0.0.1:${PORT:-8888} with a fresh token. No PyPI needed: Debian's
# jupyter-server and the npm-built JupyterLab frontend (see tests/e2e-lab/prepare.sh).
# Ctrl-C stops it.
set -euo pipefail
ROOT_DIR=$(cd "${1:-$(dirname "$0")/../examples}" && pwd)
source "$(dirname "$0")/../tests/e2e-lab/prepare.sh"
PORT=${PORT:-8888}
TOKEN=$(/usr/bin/python3 -c 'import secrets; print(secrets.token_hex(24))')
ROOT_FLAG=()
if [ "$(id -u)" = 0 ]; then ROOT_FLAG=(--ServerApp.allow_root=True); fi
say "JupyterLab with Chard, serving $ROOT_DIR:"
echo "    http://127.0.0.1:$PORT/lab?token=$TOKEN" >&2
exec /usr/bin/python3 "$WORK/server/main.py" \
  --ServerApp.ip=127.0.0.1 --ServerApp.port="$PORT" --ServerApp.port_retries=0 \
  --ServerApp.open_browser=False --ServerApp.root_dir="$ROOT_DIR" \
  --ServerApp.token="$TOKEN" "${ROOT_FLAG[@]}"
