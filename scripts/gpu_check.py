"""Check a GPU machine in one command; every figure in one JSON file (default ``gpu_check.json``).

Parts, each under its own time limit inside one overall budget (``--budget``, 450 s:
the whole check is sized for under 8 minutes on an H200; tests 150 s at most, throughput
240 s (its compiled rows compile first), the exploration runs an even share of what is left each):

- ``tests``: ``pytest -m cuda tests/test_cuda.py`` (every device test on ``cuda``);
- ``throughput``: ``benchmarks/throughput.py --device cpu cuda``, up to 131,072 copies on
  CUDA (1,024 on the CPU): the amortised agent with bonus ``none`` and ``afe`` (each
  transition trained on at least once), eager and compiled (``agent.ppo.compile``: CUDA
  graphs), beside the JAX anchor (``benchmarks/anchor_jax_ppo.py``) at the same copies in
  turns, and SB3 PPO's row;
- ``exploration``: one run of each ``maze-large-*`` preset on ``cuda`` for 1,048,576
  env steps (1,024 copies x 1,024 steps, one seed); coverage and env-steps/s.

What the machine lacks is said, not crashed on:

- no CUDA: one line says so; the ``cuda`` tests are reported skipped and the CUDA
  parts ``skipped: no cuda``; exit 0 when nothing failed;
- no ``wandb``: logging disabled (``WANDB_MODE=disabled``, ``logging.wandb=disabled``);
- no jax: the throughput JSON carries a note instead of the anchor rows;
- a package the runs need missing (no registry to install from): one line naming
  it and how to carry its wheel (``scripts/gpu_wheels.txt``), exit 2. ``gpu_check.sh``
  first installs any wheels in ``$GPU_CHECK_WHEELS`` (default ``.whl/``).

``--rehearse`` runs the same parts on the CPU at tiny sizes (does the plumbing work).

    bash scripts/gpu_check.sh [--out FILE] [--budget 450] [--methods afe random ...] [--rehearse]
"""
from __future__ import annotations

import argparse
import importlib.util
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
#: Packages every run needs (import name: wheel name), and the optional ones with what their absence costs.
NEEDED = {"torch": "torch", "numpy": "numpy", "scipy": "scipy", "yaml": "PyYAML", "tqdm": "tqdm",
          "matplotlib": "matplotlib", "sklearn": "scikit-learn", "gymnasium": "gymnasium",
          "stable_baselines3": "stable-baselines3", "pymbar": "pymbar", "numexpr": "numexpr"}
OPTIONAL = {"wandb": "logging disabled", "jax": "no JAX anchor", "flax": "no JAX anchor",
            "optax": "no JAX anchor", "gymnax": "no JAX anchor"}
METHODS = ("afe", "count", "ppo", "random", "rnd", "umbrella-afe")
#: Sizes of the real check and of the CPU rehearsal.
FULL = {"devices": ["cpu", "cuda"], "envs": [1024], "cuda_envs": [1024, 8192, 32768, 131072], "steps": 1 << 19,
        "anchor_steps": 1 << 22, "sb3_steps": 8192, "repeats": 1, "compile": ["off", "on"],
        "explore": ["env.num_envs=1024", "run.steps=1024"]}
REHEARSAL = {"devices": ["cpu"], "envs": [16], "cuda_envs": [64], "steps": 64, "anchor_steps": 128, "sb3_steps": 64,
             "repeats": 1, "compile": ["off"], "explore": ["--debug", "run.steps=8"]}
WHEELS_HINT = ("carry its wheel: see scripts/gpu_wheels.txt (pip download there, then "
               "GPU_CHECK_WHEELS=.whl bash scripts/gpu_check.sh)")


def machine() -> dict:
    import torch

    cuda = torch.cuda.is_available()
    return {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "cuda_available": cuda, "cuda_version": torch.version.cuda,
            "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
            "cpu_count": os.cpu_count()}


def packages() -> dict:
    """Which needed and optional packages are importable here, and what each absence means."""
    have = {name: importlib.util.find_spec(name) is not None for name in [*NEEDED, *OPTIONAL]}
    return {"missing": [NEEDED[n] for n in NEEDED if not have[n]],
            "missing_optional": {n: OPTIONAL[n] for n in OPTIONAL if not have[n]}}


class Clock:
    """The overall budget: each part gets its own limit or what is left, whichever is less."""

    def __init__(self, budget: float) -> None:
        self.end = time.perf_counter() + budget

    def limit(self, wanted: float) -> float:
        return max(1.0, min(wanted, self.end - time.perf_counter()))

    def share(self, parts_left: int) -> float:
        """An even share of what is left among ``parts_left`` parts."""
        return self.limit((self.end - time.perf_counter()) / max(parts_left, 1))


def run(cmd: list[str], timeout: float) -> tuple[subprocess.CompletedProcess | None, float]:
    """``cmd`` in the repository root; (the finished process or None on timeout, seconds)."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, round(time.perf_counter() - start, 1)
    return proc, round(time.perf_counter() - start, 1)


def run_tests(tests: str, timeout: float) -> dict:
    """``pytest -m cuda`` over ``tests``; counts from its JUnit XML."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-rs", "-p", "no:cacheprovider",
               f"--junitxml={xml}", *tests.split()]
        proc, seconds = run(cmd, timeout)
        if proc is None:
            return {"status": "timeout", "seconds": seconds}
        out: dict = {"command": " ".join(cmd[1:]), "exit_code": proc.returncode, "seconds": seconds}
        if not xml.exists():
            return {**out, "status": "error", "output": proc.stdout[-3000:] + proc.stderr[-2000:]}
        passed, failed, skipped = [], [], []
        for case in ET.parse(xml).getroot().iter("testcase"):
            name = f"{case.get('classname')}::{case.get('name')}"
            if case.find("failure") is not None or case.find("error") is not None:
                failed.append(name)
            elif case.find("skipped") is not None:
                skipped.append(name)
            else:
                passed.append(name)
    # pytest exits 5 when the marker selects nothing: no cuda tests exist, which is a failure of the check
    ok = not failed and proc.returncode == 0 and bool(passed or skipped)
    return {**out, "status": "ok" if ok else "failed", "passed": len(passed), "failed": failed,
            "skipped": len(skipped), "skipped_tests": skipped, "passed_tests": passed,
            **({} if ok else {"output": proc.stdout[-3000:]})}


def run_throughput(sizes: dict, timeout: float) -> dict:
    """The throughput table (the CPU rows and the CUDA rows) with the anchor beside it (its own JSON, kept whole)."""
    cmd = [sys.executable, "benchmarks/throughput.py", "--device", *sizes["devices"],
           "--envs", *map(str, sizes["envs"]), "--cuda-envs", *map(str, sizes["cuda_envs"]),
           "--steps", str(sizes["steps"]), "--anchor-steps", str(sizes["anchor_steps"]),
           "--sb3-steps", str(sizes["sb3_steps"]), "--sb3-settings", "zoo", "--repeats", str(sizes["repeats"]),
           "--compile", *sizes["compile"], "--anchor-timeout", str(int(timeout * 0.4))]
    proc, seconds = run(cmd, timeout)
    if proc is None:
        return {"status": "timeout", "seconds": seconds}
    try:
        return {"status": "ok" if proc.returncode == 0 else "failed", "seconds": seconds,
                "result": json.loads(proc.stdout)}
    except ValueError:
        return {"status": "failed", "seconds": seconds, "output": proc.stdout[-2000:] + proc.stderr[-2000:]}


#: Summary keys an exploration run reports here (scalars only).
EXPLORE_KEYS = ("env_steps", "env_steps_per_second", "coverage", "mean_env_coverage", "unique_cells",
                "final_free_energy", "rare_visits", "umbrella_restarts", "wall_seconds")


def run_exploration(device: str, methods: list[str], overrides: list[str], clock: Clock, tmp: Path) -> dict:
    """One run of each ``maze-large-<method>`` preset on ``device``; its summary figures."""
    runs: dict = {}
    for i, method in enumerate(methods):
        out = tmp / method
        cmd = [sys.executable, "-m", "experiments", "run", f"maze-large-{method}", f"env.device={device}",
               "run.seeds=[0]", "logging.wandb=disabled", "logging.map_interval=1000000", *overrides,
               "--out", str(out), "--quiet"]
        proc, seconds = run(cmd, clock.share(len(methods) - i))
        if proc is None:
            runs[method] = {"status": "timeout", "seconds": seconds}
            continue
        summary = out / "summary.json"
        if proc.returncode != 0 or not summary.is_file():
            runs[method] = {"status": "failed", "seconds": seconds, "output": proc.stderr[-1500:]}
            continue
        figures = json.loads(summary.read_text())
        runs[method] = {"status": "ok", "seconds": seconds, **{k: figures[k] for k in EXPLORE_KEYS if k in figures}}
    bad = [m for m, r in runs.items() if r["status"] != "ok"]
    return {"status": "failed" if bad else "ok", "overrides": overrides, "runs": runs}


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="gpu_check.json", help="the JSON file of figures")
    p.add_argument("--skip-benchmarks", action="store_true", help="only the cuda tests")
    p.add_argument("--tests", default=os.environ.get("GPU_CHECK_TESTS", "tests/test_cuda.py"), help="pytest paths")
    p.add_argument("--budget", type=float, default=float(os.environ.get("GPU_CHECK_BUDGET", "450")),
                   help="seconds for the whole check (each part gets what is left)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS,
                   help="maze-large presets of the exploration part")
    p.add_argument("--rehearse", action="store_true", help="every part on the CPU at tiny sizes (no GPU needed)")
    return p.parse_args(argv)


def benchmarks(args: argparse.Namespace, cuda: bool, clock: Clock) -> dict:
    """The throughput and exploration parts (skipped without CUDA, unless rehearsing on the CPU)."""
    if args.skip_benchmarks:
        return {}
    if not (cuda or args.rehearse):
        return {"throughput": {"status": "skipped", "reason": "no cuda"},
                "exploration": {"status": "skipped", "reason": "no cuda"}}
    device, sizes = ("cpu", REHEARSAL) if args.rehearse else ("cuda", FULL)
    out = {"throughput": run_throughput(sizes, clock.limit(240))}
    with tempfile.TemporaryDirectory() as tmp:
        out["exploration"] = run_exploration(device, args.methods, sizes["explore"], clock, Path(tmp))
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    clock = Clock(args.budget)
    have = packages()
    if have["missing"]:
        Path(args.out).write_text(json.dumps({"check": "gpu_check", "status": "missing packages", **have}) + "\n")
        print(f"gpu_check: missing {', '.join(have['missing'])}: {WHEELS_HINT}", file=sys.stderr)
        return 2
    if "wandb" in have["missing_optional"]:
        os.environ["WANDB_MODE"] = "disabled"
    # The parts run as child processes from the repository root, the project importable there uninstalled.
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    os.environ.setdefault("MPLBACKEND", "Agg")
    info = machine()
    if not info["cuda_available"]:
        print("gpu_check: no CUDA device here: the cuda tests are skipped and the CUDA parts (throughput, "
              "exploration) are not run" + (" (rehearsing them on the CPU)" if args.rehearse else ""))
    report = {"check": "gpu_check", "machine": info, "packages": have,
              "tests": run_tests(args.tests, timeout=clock.limit(150))}
    report["benchmarks"] = benchmarks(args, info["cuda_available"], clock)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    bad = [k for k, v in report["benchmarks"].items() if v["status"] not in ("ok", "skipped")]
    t = report["tests"]
    print(f"cuda tests: {t['status']} (passed {t.get('passed', 0)}, failed {len(t.get('failed', []))}, "
          f"skipped {t.get('skipped', 0)}); "
          + ", ".join(f"{k} {v['status']}" for k, v in report["benchmarks"].items()))
    print(f"figures: {args.out}")
    return 0 if t["status"] == "ok" and not bad else 1


if __name__ == "__main__":
    sys.exit(main())
