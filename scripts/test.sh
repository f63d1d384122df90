#!/usr/bin/env bash
# Set up (scripts/setup.sh), lint (ruff), type-check (mypy) and run the test suite.
# Extra arguments go to pytest. Configs: [tool.ruff] and [tool.mypy] in pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
# The suite also exercises the optional extras: Ray Tune sweeps, MiniGrid worlds and the docs site.
FREEENERGY_EXTRAS=${FREEENERGY_EXTRAS:-dev,sweep,minigrid,docs} bash scripts/setup.sh
export MPLBACKEND=Agg OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
echo "[test] ruff check" >&2
.venv/bin/python -m ruff check .
echo "[test] mypy" >&2
.venv/bin/python -m mypy
exec .venv/bin/python -m pytest "$@"
