#!/usr/bin/env bash
# Set up a virtual environment in .venv with freeenergy and its dependencies.
#
# torch: an already-installed torch is kept (GPU users: install the CUDA build
# you want into .venv first, see README). Otherwise, on a machine without an
# NVIDIA GPU, the CPU build torch==2.13.0 is installed so that no multi-GB CUDA
# build is pulled.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
VPY=.venv/bin/python
"$VPY" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if ! "$VPY" -c "import torch" >/dev/null 2>&1; then
    if command -v nvidia-smi >/dev/null 2>&1; then
        echo "[setup] NVIDIA GPU found: installing the default (CUDA) torch build" >&2
        "$VPY" -m pip install -q "torch>=2.1"
    else
        echo "[setup] no GPU: installing the CPU build torch==2.13.0" >&2
        # A CPU wheel already on local disk (pip's find-links) first; then PyTorch's CPU index.
        if "$VPY" -m pip install -q --no-index --no-deps "torch==2.13.0" 2>/dev/null; then
            "$VPY" -m pip install -q "torch==2.13.0"   # its dependencies, from the package index
        else
            "$VPY" -m pip install -q "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
        fi
    fi
fi
# Extras beyond the core (comma-separated): the test command adds the optional engines its tests use.
EXTRAS=${FREEENERGY_EXTRAS:-dev}
"$VPY" -m pip install -q -e ".[$EXTRAS]"
echo "[setup] ready: $("$VPY" -c 'import torch, freeenergy; print("torch", torch.__version__, "cuda", torch.cuda.is_available())')" >&2
