#!/usr/bin/env bash
# Creates .venv: a link to a virtual environment cached by the lock file's hash, so a fresh clone
# (CI included) reuses an environment built once on this machine instead of reinstalling ~6 GB.
# Idempotent: when the lock file is unchanged it only refreshes the editable install (~1 s).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
CACHE_ROOT=${D2L_VENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/d2l-lightning}
hash=$(sha256sum < requirements.lock | cut -c1-16)
venv="$CACHE_ROOT/venv-$hash"

if [ ! -f "$venv/.complete" ]; then
  echo "install: building $venv (first time for this lock file; about 2-3 minutes)"
  rm -rf "$venv"
  mkdir -p "$CACHE_ROOT"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade "pip>=24" 2>&1 | grep -v "^WARNING: Location" || true
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements.lock 2>&1 | grep -v "^WARNING: Location" || true
  "$venv/bin/python" -c "import torch, torchvision, pytorch_lightning, wandb, jsonargparse" \
    || { echo "install: the environment in $venv does not import; see the pip output above" >&2; exit 1; }
  # PYTHONDONTWRITEBYTECODE=1 on these machines: compile once here, or every import recompiles.
  "$venv/bin/python" -m compileall -q -j 0 "$venv/lib" >/dev/null 2>&1 || true
  touch "$venv/.complete"
  # environments of older lock files are ~6 GB each: keep only this one
  find "$CACHE_ROOT" -maxdepth 1 -name 'venv-*' ! -name "venv-$hash" -exec rm -rf {} + 2>/dev/null || true
fi

if [ -L .venv ] || [ ! -e .venv ]; then
  ln -sfn "$venv" .venv
elif [ "$(readlink -f .venv)" != "$(readlink -f "$venv")" ]; then
  echo "install: .venv is a directory, not the cached environment; remove it (make clean) and rerun" >&2
  exit 1
fi
# Editable install of this checkout (no deps, no network): points the cached env at this clone.
log=$(mktemp)
if ! .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . >"$log" 2>&1; then
  grep -v "^WARNING: Location" "$log" >&2; rm -f "$log"; exit 1
fi
rm -f "$log"
.venv/bin/python -c "import d2l_lightning" || { echo "install: d2l_lightning does not import" >&2; exit 1; }
