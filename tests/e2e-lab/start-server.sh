#!/bin/sh
# Start the end-to-end JupyterLab server on 127.0.0.1:${PORT:-8899}, auth disabled (tests only).
cd "$(dirname "$0")"
exec /usr/bin/python3 server/main.py \
  --ServerApp.ip=127.0.0.1 --ServerApp.port="${PORT:-8899}" --ServerApp.port_retries=0 \
  --ServerApp.open_browser=False --ServerApp.allow_root=True \
  --ServerApp.token= --ServerApp.password= --ServerApp.disable_check_xsrf=True \
  --ServerApp.root_dir="${ROOT_DIR:-$(pwd)/notebooks}" \
  "$@"
