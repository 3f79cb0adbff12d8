#!/usr/bin/env bash
# Creates .venv on top of a virtual environment cached by the lock file's hash, so a fresh clone
# (CI included) reuses an environment built once on this machine instead of reinstalling ~6 GB.
# Idempotent: when the lock file is unchanged and .venv exists it only checks the import (~1 s).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
CACHE_ROOT=${D2L_VENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/d2l-lightning}
# requirements.lock is one lock for every platform (environment markers pick each one's packages).
# D2L_TORCH=cpu: Linux without a GPU takes PyTorch's CPU-only builds of the same torch and torchvision
# versions from PyTorch's own index instead of PyPI's CUDA builds (about 5 GB of CUDA libraries less).
TORCH_CPU_INDEX=${D2L_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
case "${D2L_TORCH:-}" in
  "") variant="" ;;
  cpu) variant="cpu-" ;;
  *) echo "install: D2L_TORCH is '${D2L_TORCH}'; leave it unset (the locked builds) or set it to cpu" >&2; exit 2 ;;
esac
hash=$(sha256sum < requirements.lock | cut -c1-16)
venv="$CACHE_ROOT/venv-$variant$hash"

if [ ! -f "$venv/.complete" ]; then
  echo "install: building $venv (first time for this lock file; about 2-3 minutes)"
  rm -rf "$venv"
  mkdir -p "$CACHE_ROOT"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade "pip>=24" 2>&1 | grep -v "^WARNING: Location" || true
  lock=requirements.lock
  if [ -n "$variant" ]; then
    # torch==X is met by the installed X+cpu, so the lock then leaves it alone; the CUDA-only packages
    # (only ever torch's dependencies) are left out.
    lock=$(mktemp); grep -v -E '^(nvidia-|cuda-|triton=)' requirements.lock > "$lock"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --index-url "$TORCH_CPU_INDEX" \
      $(grep -o -E '^torch(vision)?==[^ ;]+' requirements.lock) 2>&1 | grep -v "^WARNING: Location" || true
  fi
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$lock" 2>&1 | grep -v "^WARNING: Location" || true
  "$venv/bin/python" -c "import torch, torchvision, pytorch_lightning, wandb, jsonargparse" \
    || { echo "install: the environment in $venv does not import; see the pip output above" >&2; exit 1; }
  # PYTHONDONTWRITEBYTECODE=1 on these machines: compile once here, or every import recompiles.
  "$venv/bin/python" -m compileall -q -j 0 "$venv/lib" >/dev/null 2>&1 || true
  touch "$venv/.complete"
  # environments of older lock files are ~6 GB each: keep only this one
  find "$CACHE_ROOT" -maxdepth 1 -name "venv-$variant????????????????" ! -name "venv-$variant$hash" -exec rm -rf {} + 2>/dev/null || true
fi

# .venv is this clone's own small environment on top of the shared one: a .pth file adds the
# shared site-packages and this checkout's root to sys.path. (An editable install into the shared
# environment would point every clone at whichever one ran `make` last: a researcher's two forks
# side by side would run each other's code.)
shared_site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
if compgen -G "$shared_site/d2l_lightning-*.dist-info" >/dev/null; then
  # environments built before: drop their editable install of some clone
  "$venv/bin/python" -m pip uninstall -q -y --disable-pip-version-check d2l-lightning >/dev/null 2>&1 || true
fi
if [ -L .venv ]; then rm .venv; fi  # the old layout linked .venv to the shared environment
root=$(pwd)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/made-for 2>/dev/null)" != "$venv $root" ]; then
  rm -rf .venv
  "$venv/bin/python" -m venv --without-pip .venv
  site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  printf 'import site; site.addsitedir(%s)\n' "'$shared_site'" > "$site/d2l_shared_env.pth"
  echo "$root" > "$site/d2l_this_checkout.pth"
  ln -sf "$venv/bin/ruff" .venv/bin/ruff  # `python -m ruff` looks for its binary beside the interpreter
  ln -sf "$venv/bin/uv" .venv/bin/uv      # and so does `python -m uv` (tests/scripts/test_lock.py)
  echo "$venv $root" > .venv/made-for
fi
# from another folder, so that the check does not pass by the current directory alone
(cd / && "$root/.venv/bin/python" -c "import d2l_lightning, sys; sys.exit(d2l_lightning.__file__ != '$root/d2l_lightning/__init__.py')") \
  || { echo "install: .venv does not import this checkout's d2l_lightning" >&2; exit 1; }
