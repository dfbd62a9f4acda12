#!/usr/bin/env bash
# Chard's JupyterLab end-to-end test: builds what it needs, starts a real JupyterLab 4 on a free
# port, runs lab.test.mjs in headless Chromium and stops the server. Idempotent: the app is
# reinstalled/rebuilt only when its inputs changed. `npm run test:lab-e2e` runs this.
# Everything installed or built goes to $CHARD_LAB_E2E_DIR (default .lab-e2e/ in the checkout,
# gitignored), out of the way of the unit tests and the linters; screenshots and the server log
# end up in its out/ folder.
# Needs (Debian): python3-jupyter-server python3-jupyterlab-server python3-ipykernel
# python3-nbformat chromium fonts-liberation.
set -euo pipefail
start=$(date +%s)
# 1-2. Chard's labextension and the JupyterLab app, built into $WORK (cwd afterwards).
source "$(dirname "$0")/prepare.sh"

# 3. Serve the extension build, on fresh copies of the fixture notebooks and a generated large one.
rm -rf runtime
mkdir -p runtime/notebooks
cp notebooks/*.ipynb runtime/notebooks/
node "$HERE/make-large-notebook.mjs" runtime/notebooks/large.ipynb 1500
PORT=${PORT:-$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
mkdir -p out
say "starting JupyterLab on port $PORT (log: $WORK/out/server.log)"
PORT=$PORT ROOT_DIR="$WORK/runtime/notebooks" ./start-server.sh > out/server.log 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do
  if curl -sf -o /dev/null "http://127.0.0.1:$PORT/api/status"; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then
    echo "lab-e2e: the server exited; see $WORK/out/server.log" >&2
    tail -20 out/server.log >&2
    exit 1
  fi
  sleep 0.25
done

say "running lab.test.mjs"
status=0
node lab.test.mjs "http://127.0.0.1:$PORT" || status=$?
say "done (exit $status)"
exit $status
