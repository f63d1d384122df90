#!/usr/bin/env bash
# One command that checks a GPU machine (scripts/gpu_check.py says what it runs): the tests marked
# `cuda`, the throughput table up to 131,072 copies beside the JAX anchor, and one 1M-env-step
# exploration run per maze-large method; figures in one JSON file (default gpu_check.json).
# Runs anywhere: without CUDA it says so in one line and reports the CUDA parts as skipped.
# A machine that cannot install packages: wheels in $GPU_CHECK_WHEELS (default .whl/) are put on
# the path first; scripts/gpu_wheels.txt lists them and the command that fills that folder.
# Options: --out FILE, --budget SECONDS, --methods M..., --tests PATHS, --skip-benchmarks, --rehearse.
# Python: $PYTHON, else .venv/bin/python, else python3.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
WHEELS=${GPU_CHECK_WHEELS:-.whl}
if compgen -G "$WHEELS/*.whl" >/dev/null; then
  SITE=${GPU_CHECK_SITE:-/tmp/freeenergy-gpu-site}
  echo "gpu_check: installing the wheels in $WHEELS into $SITE (no index, no dependencies)" >&2
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
if ! "$PY" -c "import wandb" >/dev/null 2>&1; then
  echo "gpu_check: wandb is not installed: logging disabled" >&2
  export WANDB_MODE=disabled
fi
export MPLBACKEND=Agg WANDB_MODE=${WANDB_MODE:-offline} PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" scripts/gpu_check.py "$@"
