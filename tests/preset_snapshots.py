"""Every preset at debug size, seed 0, on CPU: its summary (timing aside) as stored in
``tests/data/preset_summaries.json``. A change that alters what a user sees shows up here.

Re-record after an intended change: ``python tests/preset_snapshots.py --write``.
"""
from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path

STORE = Path(__file__).with_name("data") / "preset_summaries.json"
TIMING = ("second", "per_s", "wall", "time", "duration")


def _is_timing(key: str) -> bool:
    return any(t in key for t in TIMING)


def strip_timing(value):
    """The summary without timing keys (at any depth), floats rounded to 6 significant digits."""
    if isinstance(value, dict):
        return {k: strip_timing(v) for k, v in value.items() if not _is_timing(str(k))}
    if isinstance(value, list):
        return [strip_timing(v) for v in value]
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.6g}")
    return value


def preset_summary(name: str, out: Path) -> dict:
    from experiments.config.presets import resolve
    from experiments.runner import run_experiment

    cfg = resolve(name, ["logging.wandb=disabled", "logging.quiet=true", "run.seeds=[]", "run.seed=0"],
                  debug=True)
    summary, _ = run_experiment(cfg, out=out / name, quiet=True)
    return strip_timing(json.loads(json.dumps(summary)))


def preset_names() -> list[str]:
    from experiments.config.presets import preset_names as names

    return list(names())


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    names = sys.argv[2:] if len(sys.argv) > 2 else preset_names()
    stored = json.loads(STORE.read_text()) if STORE.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            stored[name] = preset_summary(name, Path(tmp))
            print(name, json.dumps(stored[name])[:200], flush=True)
    if "--write" in sys.argv[1:2]:
        STORE.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
