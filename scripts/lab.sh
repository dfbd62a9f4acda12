#!/usr/bin/env bash
# `npm run lab [-- FOLDER]`: JupyterLab 4 with Chard, serving FOLDER (default: examples/), on
# http://127.0.0.1:${PORT:-8888} with a fresh token; this machine is the default run target.
# Sets up (or updates) the virtualenv first: scripts/setup-venv.sh, idempotent and quick the
# second time. JupyterLab's settings and workspaces for it live in .lab/ (the browser tests use
# their own folder). Ctrl-C stops it.
set -euo pipefail
start=$(date +%s)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROOT_DIR=$(cd "${1:-$ROOT/examples}" && pwd)
start=$start bash "$ROOT/scripts/setup-venv.sh"
STATE=${CHARD_LAB_STATE:-$ROOT/.lab}
source "$ROOT/scripts/jupyter-env.sh"
PORT=${PORT:-8888}
# The token travels in the environment, not on the command line (other users can read that).
JUPYTER_TOKEN=$(python -c 'import secrets; print(secrets.token_hex(24))')
export JUPYTER_TOKEN
ROOT_FLAG=()
if [ "$(id -u)" = 0 ]; then ROOT_FLAG=(--ServerApp.allow_root=True); fi
jupyter lab --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port="$PORT" \
  --ServerApp.port_retries=0 --ServerApp.root_dir="$ROOT_DIR" "${lab_state_args[@]}" \
  "${ROOT_FLAG[@]}" > "$STATE/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM
# curl reads the token from stdin (-K -), not from its command line.
answers() { printf 'header = "Authorization: token %s"\n' "$JUPYTER_TOKEN" |
  curl -sf -o /dev/null -K - "http://127.0.0.1:$PORT$1"; }
until answers /api/status; do
  if ! kill -0 "$server" 2>/dev/null; then
    echo "chard: JupyterLab did not start (port $PORT in use?); its log, $STATE/server.log:" >&2
    tail -15 "$STATE/server.log" >&2
    exit 1
  fi
  sleep 0.2
done
# The URL is printed once Chard's backend answers too (a few hundred ms after the server).
for _ in $(seq 1 100); do
  if answers /chard/api/health; then break; fi
  sleep 0.1
done
echo "[lab $(($(date +%s) - start))s] JupyterLab with Chard, serving $ROOT_DIR (log: $STATE/server.log):" >&2
echo "    http://127.0.0.1:$PORT/lab?token=$JUPYTER_TOKEN"
wait "$server"
