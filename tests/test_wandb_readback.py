"""W&B keeps everything: for every kind of run, read the offline W&B data back with W&B's own
tool (``wandb leet inspect``) and find every metric row of ``metrics.jsonl`` there, including
generative models whose step axis restarts, the quickstart's parts and a resumed run."""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.io.logger import read_metrics, sync_commands

ROOT = Path(__file__).resolve().parents[1]


def wandb_bin() -> Path:
    path = Path(sys.executable).with_name("wandb")
    return path if path.exists() else Path(shutil.which("wandb") or "wandb")


def history(run: Path) -> list[dict]:
    out = subprocess.run([str(wandb_bin()), "leet", "inspect", "--json", str(run)], capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return [r["history"]["item"] for r in records if r.get("type") == "history"]


def same(a: object, b: object) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
    return a == b


def row_in(row: dict, items: list[dict]) -> bool:
    """Some history item holds every value of ``row`` at its step (W&B's step, or the row's axis step)."""
    step = row["step"]
    keys = [k for k in row if k != "step" and row[k] is not None]
    for h in items:
        at_step = h.get("_step") == step or any(k.endswith("/step") and h[k] == step for k in h)
        if at_step and all(k in h and same(h[k], row[k]) for k in keys):
            return True
    return False


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "experiments", *args], capture_output=True, text=True,
                          timeout=300, env=env, cwd=str(ROOT), check=False)


def check_folder(run_dir: Path) -> int:
    """Every row of ``run_dir/metrics.jsonl`` in the W&B runs under ``run_dir/wandb``; returns rows checked."""
    rows = read_metrics(run_dir / "metrics.jsonl")
    runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert runs, f"no offline W&B run in {run_dir}"
    items = [h for r in runs for h in history(r)]
    missing = [r for r in rows if not row_in(r, items)]
    assert not missing, f"{len(missing)} of {len(rows)} rows of {run_dir} not in W&B, e.g. {missing[:2]}"
    return len(rows)


KINDS = [
    ("agent", ["maze-afe", "--debug"]),
    ("generative", ["generative-parabola", "--debug", "generative.models=[rae,ae,gan]"]),
    ("novelty", ["novelty-waves", "--debug"]),
    ("umbrella", ["umbrella-muller-brown", "--debug"]),
    ("quickstart", ["quickstart", "--debug"]),
]


@pytest.mark.parametrize("kind, args", KINDS, ids=[k for k, _ in KINDS])
def test_every_metric_row_is_in_wandb(tmp_path, kind, args):
    out = tmp_path / "run"
    proc = run_cli("run", *args, "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "wandb sync" in proc.stdout
    assert "step less than current step" not in proc.stderr.lower()
    n = check_folder(out)
    assert n > 0
    if kind == "quickstart":  # the parts' curves are in the quickstart's own W&B run
        keys = {k for r in read_metrics(out / "metrics.jsonl") for k in r}
        assert any(k.startswith("maze-afe/") for k in keys)


def test_resumed_run_keeps_one_wandb_id_and_one_sync_command(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}",
           "TOY_INTERRUPT_AT": "23"}
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(json.dumps({"config": {"run": {"kind": "agent", "steps": 40, "checkpoint_every": 10},
                                          "logging": {"interval": 5, "map_interval": 100}}}))
    toy = [sys.executable, str(ROOT / "tests" / "toy_experiment.py")]
    first = subprocess.run([*toy, "run", str(cfg), "--out", str(out), "--quiet"], env=env, capture_output=True,
                           text=True, timeout=120, check=False)
    assert first.returncode == 130, first.stderr
    env.pop("TOY_INTERRUPT_AT")
    second = subprocess.run([*toy, "resume", str(out), "--quiet"], env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert second.returncode == 0, second.stderr
    runs = sorted((out / "wandb").glob("offline-run-*"))
    ids = {r.name.rsplit("-", 1)[-1] for r in runs}
    assert len(runs) == 2 and len(ids) == 1  # the same W&B run, continued
    commands = sync_commands(out)
    assert commands == [f"wandb sync --id {ids.pop()} {runs[0]} {runs[1]}"]
    assert commands[0] in second.stdout
    check_folder(out)
