"""scripts/gpu_check.sh runs end to end on a machine without CUDA: every cuda test skipped, none failed."""
from __future__ import annotations

import importlib.util
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


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the script runs the real checks")
def test_gpu_check_rehearses_every_part_on_the_cpu(tmp_path):
    """``--rehearse``: the throughput table (with the anchor, or its note) and an exploration run, tiny, on the CPU."""
    out = tmp_path / "gpu.json"
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(["bash", "scripts/gpu_check.sh", "--out", str(out), "--rehearse", "--methods", "random"],
                          check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "no CUDA device here" in proc.stdout
    bench = json.loads(out.read_text())["benchmarks"]
    rows = bench["throughput"]["result"]["results"]["rows"]
    assert {(r["agent"], r["bonus"]) for r in rows} >= {("amortised", "none"), ("amortised", "afe")}
    assert all(r["device"] == "cpu" and r["env_steps_per_second"] > 0 for r in rows)
    results = bench["throughput"]["result"]["results"]
    assert any(r["agent"] == "anchor_jax_ppo" for r in rows) or "jax" in results["anchor_note"]
    run = bench["exploration"]["runs"]["random"]
    assert run["status"] == "ok" and run["env_steps"] > 0 and 0 < run["coverage"] <= 1


def _gpu_check_module():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_names_a_missing_package_and_the_wheels(tmp_path, capsys, monkeypatch):
    gc = _gpu_check_module()
    monkeypatch.setitem(gc.NEEDED, "no_such_package_here", "no-such-package")
    code = gc.main(["--out", str(tmp_path / "gpu.json")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "missing no-such-package" in err and "scripts/gpu_wheels.txt" in err
    assert json.loads((tmp_path / "gpu.json").read_text())["missing"] == ["no-such-package"]


def test_gpu_check_without_wandb_disables_logging(tmp_path, monkeypatch):
    gc = _gpu_check_module()
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    monkeypatch.setattr(gc, "packages", lambda: {"missing": [], "missing_optional": {"wandb": "logging disabled"}})
    monkeypatch.setattr(gc, "run_tests", lambda tests, timeout: {"status": "ok"})
    assert gc.main(["--out", str(tmp_path / "gpu.json"), "--skip-benchmarks"]) == 0
    assert os.environ["WANDB_MODE"] == "disabled"
    assert json.loads((tmp_path / "gpu.json").read_text())["packages"]["missing_optional"] == {
        "wandb": "logging disabled"}


def test_gpu_wheels_list_pins_what_the_check_needs():
    """Every package a run needs beyond a CUDA image is in scripts/gpu_wheels.txt, pinned."""
    lines = [line.strip() for line in (ROOT / "scripts" / "gpu_wheels.txt").read_text().splitlines()]
    pins = dict(line.split("==") for line in lines if line and not line.startswith("#"))
    assert {"gymnasium", "stable-baselines3", "pymbar", "numexpr", "gymnax"} <= set(pins)
    assert all(v[0].isdigit() for v in pins.values())
