#!/usr/bin/env bash
# The Python of the project, linted and tested as Python (run from `npm run lint` and `npm test`):
#   scripts/python-checks.sh lint   pyflakes over src/runtime, its tests, tests/kfp, jupyterlab_chard and the
#                                   joined runtime the build writes (lib/runtime/chard_runtime.py)
#   scripts/python-checks.sh test   pytest over tests/runtime/python (each module on its own)
# Both use Debian's python3 (/usr/bin/python3, which has numpy, pandas and torch for the tests);
# set CHARD_TEST_PYTHON to use another. They install nothing: .ci/run installs python3-pyflakes and
# python3-pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${CHARD_TEST_PYTHON:-/usr/bin/python3}"

need() {
  if ! "$PYTHON" -c "import $1" >/dev/null 2>&1; then
    echo "$2: $1 is not installed for $PYTHON; install it with \`apt-get install python3-$1\`" \
      "(Debian), or \`pip install $1\` in a virtualenv and set CHARD_TEST_PYTHON to its python" >&2
    exit 1
  fi
}

case "${1:-}" in
  lint)
    need pyflakes "npm run lint"
    files=(src/runtime tests/runtime/python tests/kfp jupyterlab_chard)
    if [ -f lib/runtime/chard_runtime.py ]; then files+=(lib/runtime/chard_runtime.py); fi
    "$PYTHON" -m pyflakes "${files[@]}"
    ;;
  test)
    need pytest "npm run test:python"
    "$PYTHON" -m pytest -q -p no:cacheprovider tests/runtime/python
    ;;
  *)
    echo "usage: scripts/python-checks.sh lint|test" >&2
    exit 2
    ;;
esac
