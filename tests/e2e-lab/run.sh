#!/usr/bin/env bash
# Chard's JupyterLab end-to-end test against the pip-installed JupyterLab of the test virtualenv
# (scripts/setup-venv.sh, run by .ci/run and `npm run lab`; this script installs nothing): it
# builds Chard's wheel from this checkout and installs it there (the code under test), starts
# JupyterLab on a free port and runs lab.test.mjs in headless Chromium (Debian's, through
# playwright-core). `npm run test:lab-e2e` runs this. JupyterLab's state, the notebooks,
# screenshots and the server log go to $CHARD_LAB_E2E_DIR (default .lab-e2e/, gitignored).
set -euo pipefail
start=$(date +%s)
say() { echo "[lab-e2e $(($(date +%s) - start))s] $*" >&2; }
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
STATE=${CHARD_LAB_E2E_DIR:-$ROOT/.lab-e2e}
if [ ! -x /usr/bin/chromium ]; then
  echo "lab-e2e: Debian's chromium is missing: apt-get install -y chromium fonts-liberation (.ci/run does)" >&2
  exit 2
fi
source "$ROOT/scripts/jupyter-env.sh"
say "building Chard's wheel and installing it into $VENV"
start=$start bash "$ROOT/scripts/setup-venv.sh" --wheel-only

rm -rf "$STATE/notebooks" "$STATE/workspaces" "$STATE/user-settings" "$STATE/runtime"
mkdir -p "$STATE/notebooks" "$STATE/out"
cp "$HERE"/notebooks/*.ipynb "$STATE/notebooks/"
# The example as a user gets it (run, then TensorBoard from its monitor).
mkdir -p "$STATE/notebooks/example"
cp "$ROOT"/examples/churn/churn.ipynb "$ROOT"/examples/churn/customers.csv "$STATE/notebooks/example/"
node "$HERE/make-large-notebook.mjs" "$STATE/notebooks/large.ipynb" 1500
# Two runs of train.ipynb with real event files (tensorboardX), for the TensorBoard panel.
"$VENV/bin/python" "$ROOT/tests/fixtures/tensorboard/write_runs.py" "$STATE/notebooks" > "$STATE/out/tensorboard-runs.json"
PORT=${PORT:-$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
say "starting JupyterLab on port $PORT (log: $STATE/out/server.log)"
# No token: the page is driven by the test alone, on 127.0.0.1 (the security tests, in
# tests/jupyterlab_chard/, run servers with tokens). XSRF checks stay on.
jupyter lab --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port="$PORT" \
  --ServerApp.port_retries=0 --ServerApp.allow_root=True --IdentityProvider.token= \
  --ServerApp.password= --ServerApp.root_dir="$STATE/notebooks" \
  --LabApp.expose_app_in_browser=True --LabApp.app_settings_dir="$HERE/settings" \
  "${lab_state_args[@]}" > "$STATE/out/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do
  if curl -sf -o /dev/null "http://127.0.0.1:$PORT/api/status"; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then
    echo "lab-e2e: the server exited; see $STATE/out/server.log" >&2
    tail -20 "$STATE/out/server.log" >&2
    exit 1
  fi
  sleep 0.25
done

say "running lab.test.mjs"
status=0
OUT_DIR="$STATE/out" TENSORBOARD_RUNS="$STATE/out/tensorboard-runs.json" node "$HERE/lab.test.mjs" "http://127.0.0.1:$PORT" || status=$?
say "done (exit $status)"
exit $status
