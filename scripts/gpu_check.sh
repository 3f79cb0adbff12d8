#!/usr/bin/env bash
# The GPU check (see scripts/gpu_check.py for what runs and what it needs installed): chapter 5's book
# table with bf16 + channels_last, DenseNet once in fp32, the chapter 9/10 configs, a 2-GPU DDP run
# where 2 GPUs exist; about 8 minutes on one modern GPU. Offline: CSV logs only, data from
# $D2L_DATA_DIR (default ../shared/data when it exists, else ./data). Arguments go to gpu_check.py:
#   bash scripts/gpu_check.sh                 # the whole check
#   bash scripts/gpu_check.sh --total 900     # more time on a slower GPU
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=${PYTHON:-python3}; fi
if [[ -z "${D2L_DATA_DIR:-}" && -d ../shared/data ]]; then export D2L_DATA_DIR="$(cd ../shared/data && pwd)"; fi
export MPLBACKEND=Agg D2L_OFFLINE=1 WANDB_MODE=disabled
exec "$PY" scripts/gpu_check.py "$@"
