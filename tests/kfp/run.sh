#!/usr/bin/env bash
# The KFP SDK stage (`npm run test:kfp`): pytest over tests/kfp in .venv-kfp, the virtualenv of the
# real kfp and kfp-kubernetes that scripts/setup-kfp-venv.sh makes (.ci/run does; this installs
# nothing). Needs the build (bin/chard.js compiles the notebooks). Extra arguments go to pytest,
# e.g. `bash tests/kfp/run.sh -k structure`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${CHARD_KFP_VENV:-$ROOT/.venv-kfp}
cd "$ROOT"
expected="$(cat requirements/kfp.txt requirements/kfp-constraints.txt | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(head -1 "$VENV/.chard-requirements" 2>/dev/null)" != "$expected" ]; then
  echo "chard: the KFP SDK virtualenv ($VENV) is missing or out of date." >&2
  echo "  Set it up with: bash scripts/setup-kfp-venv.sh   (.ci/run does; npm test installs nothing)" >&2
  exit 2
fi
if [ ! -f lib/src/cli/main.js ]; then
  echo "chard: not built; run npm run build first" >&2
  exit 2
fi
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/kfp "$@"
