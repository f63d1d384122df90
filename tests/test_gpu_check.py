"""scripts/gpu_check.sh runs end to end on a machine without CUDA: every cuda test skipped, none failed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the script runs the real checks")
def test_gpu_check_without_cuda_skips_cleanly(tmp_path):
    out = tmp_path / "gpu.json"
    env = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_TESTS": "tests/test_cuda.py"}
    proc = subprocess.run(["bash", "scripts/gpu_check.sh", "--out", str(out)], check=False, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads(out.read_text())
    tests = report["tests"]
    assert tests["status"] == "ok" and tests["failed"] == [] and tests["passed"] == 0 and tests["skipped"] >= 5
    assert report["machine"]["cuda_available"] is False
    assert report["benchmarks"] and all(b["status"] == "skipped" for b in report["benchmarks"].values())
    assert {b["reason"] for b in report["benchmarks"].values()} <= {"no cuda", "no GPU path"}
