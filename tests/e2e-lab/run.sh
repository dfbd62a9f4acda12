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
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
start=$(date +%s)
say() { echo "[lab-e2e $(($(date +%s) - start))s] $*" >&2; }

if ! /usr/bin/python3 -c 'import jupyter_server, jupyterlab_server, ipykernel, nbformat' 2>/dev/null \
  || [ ! -x /usr/bin/chromium ]; then
  echo "lab-e2e: missing Debian packages; run: apt-get install -y --no-install-recommends" \
    "python3-jupyter-server python3-jupyterlab-server python3-ipykernel python3-nbformat" \
    "chromium fonts-liberation" >&2
  exit 2
fi

# 1. Chard's prebuilt extension (root dependencies come from the project's npm ci).
cd "$ROOT"
if [ ! -d node_modules/@jupyter/builder ]; then
  say "npm ci (root)"
  npm ci --no-audit --no-fund
fi
say "building the labextension"
npm run --silent build:labextension >/dev/null

# 2. The JupyterLab app, from its own package.json and lock (kept out of the root install).
WORK=${CHARD_LAB_E2E_DIR:-$ROOT/.lab-e2e}
mkdir -p "$WORK"
(cd "$HERE" && cp -R package.json package-lock.json rspack.config.mjs lab.test.mjs start-server.sh \
  server src templates settings notebooks "$WORK/")
cd "$WORK"
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
deps_hash=$(hash_of package.json package-lock.json)
if [ ! -f node_modules/.chard-deps ] || [ "$(cat node_modules/.chard-deps)" != "$deps_hash" ]; then
  say "npm ci (JupyterLab app)"
  npm ci --no-audit --no-fund
  echo "$deps_hash" > node_modules/.chard-deps
fi
app_hash=$(hash_of package-lock.json rspack.config.mjs src/bootstrap.js src/main.js templates/index.html)
if [ ! -f static/main.js ] || [ ! -f static/.chard-app ] || [ "$(cat static/.chard-app)" != "$app_hash" ]; then
  say "building the JupyterLab app"
  npx rspack --config rspack.config.mjs >/dev/null
  echo "$app_hash" > static/.chard-app
fi

# 3. Serve the extension build, on fresh copies of the fixture notebooks.
mkdir -p labextensions
ln -sfn "$ROOT/jupyterlab_chard/labextension" labextensions/jupyterlab-chard
rm -rf runtime
mkdir -p runtime/notebooks
cp notebooks/*.ipynb runtime/notebooks/
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
