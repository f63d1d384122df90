#!/usr/bin/env bash
# One command that checks a GPU machine: the tests marked `cuda`, then every
# benchmark with --device cuda, figures in one JSON file (default gpu_check.json).
# Runs anywhere: without CUDA the cuda tests are reported as skipped and the
# benchmarks as "no cuda". Options: --out FILE, --skip-benchmarks, --tests PATHS.
# Python: $PYTHON, else .venv/bin/python, else python3.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export MPLBACKEND=Agg WANDB_MODE=${WANDB_MODE:-offline} PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" scripts/gpu_check.py "$@"
