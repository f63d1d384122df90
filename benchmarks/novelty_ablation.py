"""Novelty search on the waves: one factor at a time around the ``novelty-waves`` preset; prints JSON.

Each setting is the preset plus one change (the search's objective, its
steps, the free-energy constraint, where the latent points start, the
fraction of the data replaced per round, a code-density constraint; one row
combines the source's cycle-error search with its best earlier variant),
run through the experiments runner for every seed with W&B and the gallery
figures off. Per setting it reports, per seed and as mean/min/max:

- ``entropy_ratio``: the data set's dominant-frequency entropy, final over
  initial (the spectral diversity; goal >= 1.5);
- ``peaks_ratio``: distinct spectral peaks, final over initial;
- ``noise_like_fraction``: the novel samples' noise-like share, averaged
  over the rounds (goal <= 0.05);
- ``final_data_noise_like_fraction``: the noise-like share of the final data;
- ``error_percentile``: the novel samples' reconstruction error between the
  data's (0) and white noise's (100), median over the rounds;
- ``novel_entropy_ratio``: the dominant-frequency entropy of each round's
  novel samples alone, averaged over the rounds, over the initial data's
  (does the search itself find new frequencies, whatever share replaces data).

``meets_goal`` is true where every seed has ``entropy_ratio >= 1.5`` and
``noise_like_fraction <= 0.05``. ``--set`` shortens every run (e.g. fewer
epochs between rounds); what was set is in ``settings``.

    python benchmarks/novelty_ablation.py --seeds 0 1 --set novelty.epochs=10 \\
        --out benchmarks/results/novelty_ablation.json
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

_ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == _ROOT / "benchmarks":  # benchmarks/envs.py would shadow envs
    sys.path[0] = str(_ROOT)

from benchmarks.preset_run import run_preset  # noqa: E402
from benchmarks.report import emit, machine, write  # noqa: E402

PRESET = "novelty-waves"
# name -> overrides of the preset (one factor each; the rae_gmm prior is refitted before every round's starts).
SETTINGS: dict[str, list[str]] = {
    "preset": [],
    "objective=cycle (the source's)": ["novelty.objective=cycle"],
    "search_steps=30, step_size=1.0": ["novelty.search_steps=30", "novelty.step_size=1.0"],
    "fe_quantile=0.99": ["novelty.fe_quantile=0.99"],
    "start=code_gaussian": ["novelty.start=code_gaussian"],
    "replace_fraction=0.1": ["novelty.replace_fraction=0.1"],
    # The code prior's density as a second constraint.
    "rae_gmm, density_quantile=0.99": ["world_model.name=rae_gmm", "world_model.prior_refit_every=1",
                                       "novelty.density_quantile=0.99"],
    # The source's search with the combination that found most new peaks before.
    "objective=cycle, step_size=1.6, start=prior (rae_gmm)": [
        "novelty.objective=cycle", "novelty.step_size=1.6", "novelty.start=prior", "world_model.name=rae_gmm",
        "world_model.prior_refit_every=1"],
}
KEYS = ("entropy_ratio", "peaks_ratio", "noise_like_fraction", "final_data_noise_like_fraction", "error_percentile")
GOAL = {"entropy_ratio": 1.5, "noise_like_fraction": 0.05}


def figures(summary: dict) -> dict[str, float]:
    """A run's figures (``KEYS`` and ``novel_entropy_ratio``) from its summary."""
    out = {k: float(summary[k]) for k in KEYS}
    novel = [r["novel_entropy"] for r in summary["rounds"]]
    initial = float(summary["initial_entropy"])
    out["novel_entropy_ratio"] = float(np.mean(novel)) / initial if novel and initial > 0 else float("nan")
    return out


def summarise(per_seed: dict[str, dict]) -> dict:
    """Each key's mean, min and max over the seeds, and whether every seed meets the goal."""
    out: dict = {}
    for k in next(iter(per_seed.values())):
        v = [float(r[k]) for r in per_seed.values()]
        out[k] = {"mean": float(np.mean(v)), "min": float(np.min(v)), "max": float(np.max(v))}
    out["meets_goal"] = bool(out["entropy_ratio"]["min"] >= GOAL["entropy_ratio"]
                             and out["noise_like_fraction"]["max"] <= GOAL["noise_like_fraction"])
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS), metavar="NAME")
    p.add_argument("--set", nargs="*", default=[], help="overrides for every run (e.g. shorter training)")
    p.add_argument("--debug", action="store_true", help="the preset's debug sizes (a smoke test)")
    p.add_argument("--out", default="", help="also write the JSON here (rewritten after every setting)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    results: dict[str, dict] = {}
    result = {"benchmark": "novelty_ablation",
              "figure": "novelty-waves, one factor at a time: spectral diversity and noise-like share",
              "unit": "entropy ratio final/initial (goal >= 1.5); noise-like share of novel samples (goal <= 0.05)",
              "settings": {"preset": PRESET, "seeds": args.seeds, "debug": args.debug, "overrides": args.set,
                           "variants": {n: SETTINGS[n] for n in args.settings}},
              "machine": machine(),
              "results": results}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.settings:
            runs, cpu = {}, {}
            for seed in args.seeds:
                folder = Path(tmp) / f"{len(results)}-{seed}"
                summary, _, cpu[str(seed)] = run_preset(PRESET, seed, ["novelty.gallery=0", *args.set, *SETTINGS[name]],
                                                        folder, args.debug)
                runs[str(seed)] = figures(summary)
            results[name] = {**summarise(runs), "cpu_seconds": round(sum(cpu.values()), 1), "per_seed": runs}
            write(result, args.out)
    emit(result)
    return result


if __name__ == "__main__":
    main()
