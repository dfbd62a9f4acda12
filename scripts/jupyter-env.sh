# Sourced by scripts/lab.sh and tests/e2e-lab/run.sh: the environment of a JupyterLab from the
# virtualenv that scripts/setup-venv.sh made, with its own state folder, so that `npm run lab`
# and the browser tests never share settings, workspaces or runtime files.
# In: ROOT (the checkout), STATE (the state folder). Out: VENV, PATH, JUPYTER_* exported,
# lab_state_args (the LabApp options that put settings and workspaces into STATE).
VENV=${CHARD_VENV:-$ROOT/.venv}
if [ ! -x "$VENV/bin/jupyter-lab" ] || ! "$VENV/bin/python" -c 'import jupyterlab_chard' 2>/dev/null; then
  echo "chard: the virtualenv with JupyterLab and Chard is missing ($VENV)." >&2
  echo "  Set it up with: bash scripts/setup-venv.sh   (npm run lab and .ci/run do this)" >&2
  exit 2
fi
mkdir -p "$STATE"
export PATH="$VENV/bin:$PATH"
export JUPYTER_CONFIG_DIR="$STATE/config" JUPYTER_DATA_DIR="$STATE/data"
export JUPYTER_RUNTIME_DIR="$STATE/runtime"
# Kernels come from the virtualenv (numpy, pandas, scikit-learn), never from ~/.local.
export JUPYTER_PLATFORM_DIRS=1 PYTHONNOUSERSITE=1
lab_state_args=(--LabApp.user_settings_dir="$STATE/user-settings"
  --LabApp.workspaces_dir="$STATE/workspaces")
