"""Check a GPU machine in one command: the ``cuda`` tests, then every benchmark with ``--device cuda``.

Writes one JSON file (default ``gpu_check.json``) with the machine, the test
outcome (passed / failed / skipped, with the names of failures) and each
benchmark's own JSON (or why it has none: ``no cuda``, ``no --device option``,
a timeout, an error). Without CUDA every ``cuda`` test is reported as skipped
and the benchmarks as ``no cuda``; the exit code is then 0, as it is on a GPU
when nothing failed.

    bash scripts/gpu_check.sh                      # everything, JSON in gpu_check.json
    bash scripts/gpu_check.sh --out figures.json --skip-benchmarks
    GPU_CHECK_BENCH_TIMEOUT=60 bash scripts/gpu_check.sh
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Benchmarks that have no GPU path (sweeps schedule CPU trials) or that time a CPU-only thing.
NOT_GPU = {"sweep_exploration"}


def machine() -> dict:
    import torch

    cuda = torch.cuda.is_available()
    return {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "cuda_available": cuda, "cuda_version": torch.version.cuda,
            "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
            "cpu_count": os.cpu_count()}


def run_tests(tests: str, timeout: float) -> dict:
    """``pytest -m cuda`` over ``tests``; counts from its JUnit XML."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-rs", "-p", "no:cacheprovider",
               f"--junitxml={xml}", *tests.split()]
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"status": "timeout", "seconds": timeout}
        out: dict = {"command": " ".join(cmd[1:]), "exit_code": proc.returncode,
                     "seconds": round(time.perf_counter() - start, 1)}
        if not xml.exists():
            return {**out, "status": "error", "output": proc.stdout[-3000:] + proc.stderr[-2000:]}
        cases = ET.parse(xml).getroot().iter("testcase")
        passed, failed, skipped = [], [], []
        for case in cases:
            name = f"{case.get('classname')}::{case.get('name')}"
            if case.find("failure") is not None or case.find("error") is not None:
                failed.append(name)
            elif case.find("skipped") is not None:
                skipped.append(name)
            else:
                passed.append(name)
    # pytest exits 5 when the marker selects nothing: no cuda tests exist, which is a failure of the check
    ok = not failed and proc.returncode in (0,) and (passed or skipped)
    return {**out, "status": "ok" if ok else "failed", "passed": len(passed), "failed": failed,
            "skipped": len(skipped), "skipped_tests": skipped, "passed_tests": passed,
            **({} if ok else {"output": proc.stdout[-3000:]})}


# Shorter settings on the GPU so that the whole check stays within minutes.
QUICK = {"envs": ["--min-time", "0.2", "--sync-cap", "64"], "agents": ["--repeats", "3", "--sb3-steps", "8192"],
         "ddp": ["--repeats", "1"], "world_models": ["--steps", "20"]}


def has_device_option(script: Path) -> bool:
    """Read, not run: a script without argparse might start its full measurement on --help."""
    return '"--device"' in script.read_text()


def run_benchmarks(cuda: bool, timeout: float) -> dict:
    out: dict = {}
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        name = script.stem
        if name.startswith("_") or name in NOT_GPU:
            out[name] = {"status": "skipped", "reason": "no GPU path"}
            continue
        if not cuda:
            out[name] = {"status": "skipped", "reason": "no cuda"}
            continue
        if not has_device_option(script):
            out[name] = {"status": "skipped", "reason": "no --device option"}
            continue
        start = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, str(script), "--device", "cuda", *QUICK.get(name, [])], check=False,
                                  cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            out[name] = {"status": "timeout", "seconds": timeout}
            continue
        entry: dict = {"seconds": round(time.perf_counter() - start, 1), "exit_code": proc.returncode}
        try:
            entry.update(status="ok" if proc.returncode == 0 else "failed", result=json.loads(proc.stdout))
        except ValueError:
            entry.update(status="failed", output=proc.stdout[-2000:] + proc.stderr[-2000:])
        out[name] = entry
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="gpu_check.json", help="the JSON file of figures")
    p.add_argument("--skip-benchmarks", action="store_true", help="only the cuda tests")
    p.add_argument("--tests", default=os.environ.get("GPU_CHECK_TESTS", "tests"), help="pytest paths")
    args = p.parse_args()
    bench_timeout = float(os.environ.get("GPU_CHECK_BENCH_TIMEOUT", "45"))
    info = machine()
    report = {"check": "gpu_check", "machine": info, "tests": run_tests(args.tests, timeout=240)}
    report["benchmarks"] = ({} if args.skip_benchmarks
                            else run_benchmarks(info["cuda_available"], bench_timeout))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    bad = [k for k, v in report["benchmarks"].items() if v["status"] not in ("ok", "skipped")]
    t = report["tests"]
    print(f"cuda tests: {t['status']} (passed {t.get('passed', 0)}, failed {len(t.get('failed', []))}, "
          f"skipped {t.get('skipped', 0)}); benchmarks: "
          + ", ".join(f"{k} {v['status']}" for k, v in report["benchmarks"].items()))
    print(f"figures: {args.out}")
    return 0 if t["status"] == "ok" and not bad else 1


if __name__ == "__main__":
    sys.exit(main())
