"""Training throughput of the world models on the parabola set; prints JSON.

For every model (the parabola preset's settings: 3 -> 128 -> 6 -> 128 -> 3,
RAE with 3 passes) and two batch sizes (128 and the full 10000-point set),
times ``fit_step`` and reports samples/s. The RAE's cost relative to the
plain AE is measured side by side: their steps alternate in one loop, so
machine load affects both alike (expected about K = passes times, since the
RAE unrolls K encode-decode passes).

    python benchmarks/world_models.py [--device cuda] [--steps 30] [--threads 0]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

_ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == _ROOT / "benchmarks":  # benchmarks/envs.py would shadow envs
    sys.path[0] = str(_ROOT)

from benchmarks.report import emit, machine  # noqa: E402
from freeenergy.data import parabola  # noqa: E402
from freeenergy.models import WORLD_MODELS, build_world_model  # noqa: E402

SETTINGS = {"hidden": [128], "code_dim": 6, "lr": 1e-3}
RAE_SETTINGS = {"passes": 3, "sigma": 0.1, "code_penalty": 0.03}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _model(name: str, device: torch.device):
    extra = RAE_SETTINGS if name.startswith("rae") else {}
    return build_world_model(name, 3, device=device, **SETTINGS, **extra)


def _batches(x: torch.Tensor, batch: int, steps: int, seed: int) -> list[torch.Tensor]:
    if batch >= len(x):
        return [x] * steps
    g = torch.Generator().manual_seed(seed)
    return [x[torch.randint(0, len(x), (batch,), generator=g).to(x.device)] for _ in range(steps)]


def _timed_step(model, xb: torch.Tensor, device: torch.device) -> float:
    _sync(device)
    t = time.perf_counter()
    model.fit_step(xb)
    _sync(device)
    return time.perf_counter() - t


def throughput(name: str, x: torch.Tensor, batch: int, steps: int, warmup: int, device: torch.device) -> float:
    """Samples per second of ``fit_step`` at ``batch``."""
    torch.manual_seed(0)
    m = _model(name, device)
    for xb in _batches(x, batch, warmup, 1):
        m.fit_step(xb)
    total = sum(_timed_step(m, xb, device) for xb in _batches(x, batch, steps, 2))
    return batch * steps / total


def rae_ae_ratio(x: torch.Tensor, batch: int, steps: int, warmup: int, device: torch.device,
                 name: str = "rae") -> dict:
    """Model ``name``'s and the AE's steps alternating in one loop; ratio of their summed times."""
    torch.manual_seed(0)
    rae, ae = _model(name, device), _model("ae", device)
    for xb in _batches(x, batch, warmup, 1):
        rae.fit_step(xb)
        ae.fit_step(xb)
    t_rae = t_ae = 0.0
    for xb in _batches(x, batch, steps, 3):
        t_rae += _timed_step(rae, xb, device)
        t_ae += _timed_step(ae, xb, device)
    if name != "rae":
        return {"seconds_per_step": t_rae / steps, "over_ae": t_rae / t_ae}
    return {"rae_seconds_per_step": t_rae / steps, "ae_seconds_per_step": t_ae / steps,
            "rae_over_ae": t_rae / t_ae, "passes": RAE_SETTINGS["passes"]}


def sampling_cost(name: str, x: torch.Tensor, n: int, device: torch.device) -> dict:
    """Seconds of ``sample(n)`` after a few training steps (rae_gmm: its prior fit timed apart)."""
    torch.manual_seed(0)
    m = _model(name, device)
    for xb in _batches(x, 128, 5, 4):
        m.fit_step(xb)
    out = {}
    if hasattr(m, "fit_prior"):
        _sync(device)
        t = time.perf_counter()
        m.fit_prior(x)
        _sync(device)
        out["prior_fit_seconds"] = round(time.perf_counter() - t, 4)
    _sync(device)
    t = time.perf_counter()
    m.sample(n)
    _sync(device)
    out["sample_seconds"] = round(time.perf_counter() - t, 4)
    return out


def per_model(rates: dict, rae_vs_ae: dict, vs_ae: dict, sampling: dict) -> dict:
    """One row per model: samples/s and cost over the AE at each batch size, seconds per sampling call."""
    rows: dict[str, dict] = {}
    for name in WORLD_MODELS:
        row = rows.setdefault(name, {})
        for b, by_model in rates.items():
            row[f"samples_per_s_batch_{b}"] = by_model[name]
            ratios = {"ae": 1.0, "rae": rae_vs_ae[b]["rae_over_ae"],
                      **{m: r["over_ae"] for m, r in vs_ae[b].items()}}
            row[f"cost_over_ae_batch_{b}"] = round(ratios[name], 3)
        row["sample_seconds"] = sampling[name]["sample_seconds"]
    return rows


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="torch device (default: cuda when available)")
    p.add_argument("--steps", type=int, default=30, help="timed steps per model and batch size")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--n", type=int, default=10000, help="parabola points (the full batch)")
    p.add_argument("--samples", type=int, default=20000, help="samples drawn by the sampling-cost figure")
    p.add_argument("--out", default="", help="also write the JSON here")
    args = p.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    x = torch.from_numpy(parabola(args.n, seed=0)).to(device)
    batches = [128, args.n]
    rates = {str(b): {name: round(throughput(name, x, b, args.steps, args.warmup, device), 1)
                      for name in WORLD_MODELS} for b in batches}
    rae_vs_ae = {str(b): rae_ae_ratio(x, b, args.steps, args.warmup, device) for b in batches}
    vs_ae = {str(b): {name: rae_ae_ratio(x, b, args.steps, args.warmup, device, name)
                      for name in WORLD_MODELS if name not in ("ae", "rae")} for b in batches}
    sampling = {name: sampling_cost(name, x, args.samples, device) for name in WORLD_MODELS}
    result = {
        "benchmark": "world_models",
        "figure": "world-model training throughput on the parabola, cost relative to the AE, sampling cost",
        "unit": "samples/s (fit_step); cost over the AE is a time ratio measured side by side; seconds",
        "settings": {"data": f"parabola N={args.n}", "net": "3-128-6-128-3", "rae": RAE_SETTINGS,
                     "batches": batches, "steps": args.steps, "warmup": args.warmup, "samples": args.samples},
        "machine": machine(device=str(device)),
        "results": {"table": per_model(rates, rae_vs_ae, vs_ae, sampling), "throughput": rates,
                    "rae_vs_ae": rae_vs_ae, "vs_ae": vs_ae, "sampling": sampling},
    }
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
