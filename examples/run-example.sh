#!/bin/sh
# Run the churn example notebook (examples/churn/churn.ipynb) as a pipeline on this machine:
# installs what is missing, then `chard run` with a Python that has numpy, pandas, scikit-learn and
# matplotlib.
# Usage: examples/run-example.sh [extra chard run options, e.g. --param N_TREES=100 --json]
set -eu
cd "$(dirname "$0")/.."

NEEDED="numpy pandas sklearn matplotlib"
DEBIAN_PACKAGES="python3-numpy python3-pandas python3-sklearn python3-matplotlib"

has_modules() {
  "$1" -c 'import sys, importlib.util
sys.exit(0 if all(importlib.util.find_spec(m) for m in sys.argv[1:]) else 1)' $NEEDED 2>/dev/null
}

pick_python() {
  for candidate in /usr/bin/python3 "$(command -v python3 || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && has_modules "$candidate"; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if ! PYTHON=$(pick_python); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "run-example: installing $DEBIAN_PACKAGES (Debian packages)" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 $DEBIAN_PACKAGES >&2
    PYTHON=$(pick_python) || { echo "run-example: still no Python with $NEEDED" >&2; exit 1; }
  else
    echo "run-example: no Python here can import numpy, pandas, scikit-learn and matplotlib. Install them with" >&2
    echo "    sudo apt-get install $DEBIAN_PACKAGES" >&2
    echo "or" >&2
    echo "    python3 -m pip install numpy pandas scikit-learn matplotlib" >&2
    echo "then run this script again." >&2
    exit 1
  fi
fi

if [ ! -d node_modules ]; then
  echo "run-example: installing the npm dependencies" >&2
  npm ci --no-audit --no-fund >&2
fi
if [ ! -f lib/src/cli/main.js ]; then
  echo "run-example: building chard" >&2
  npm run build >&2
fi

echo "run-example: npx chard analyze examples/churn/churn.ipynb" >&2
npx chard analyze examples/churn/churn.ipynb
echo "run-example: npx chard run examples/churn/churn.ipynb --python $PYTHON $*" >&2
exec npx chard run examples/churn/churn.ipynb --python "$PYTHON" "$@"
