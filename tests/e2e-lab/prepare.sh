#!/usr/bin/env bash
# Builds what a real JupyterLab 4 with Chard in it needs, without PyPI: Chard's prebuilt
# extension, and the JupyterLab frontend app (from its own package.json and lock) served by
# Debian's jupyter-server. Idempotent: the app is reinstalled/rebuilt only when its inputs change.
# Sourced by run.sh (the end-to-end test) and scripts/lab.sh (`npm run lab`); sets WORK to the
# folder that holds the app ($CHARD_LAB_E2E_DIR, default .lab-e2e/ in the checkout, gitignored).
# Needs (Debian): python3-jupyter-server python3-jupyterlab-server python3-ipykernel
# python3-nbformat chromium fonts-liberation.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
start=${start:-$(date +%s)}
say() { echo "[lab $(($(date +%s) - start))s] $*" >&2; }

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

mkdir -p "$WORK/labextensions"
ln -sfn "$ROOT/jupyterlab_chard/labextension" "$WORK/labextensions/jupyterlab-chard"
