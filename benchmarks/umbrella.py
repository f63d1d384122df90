"""Umbrella sampling vs plain dynamics on Müller-Brown: env steps to a good PMF, and throughput.

Prints one JSON object:

- ``steps_to_target``: env steps (all copies together) at which the PMF along
  the A-B direction first has RMSE <= ``--target`` kT against the exact PMF,
  with every scored bin (within ``umbrella.eval_kT`` of the minimum) covered;
  for umbrella sampling (MBAR over the windows) and for plain dynamics started
  in minimum A (histogram), each measured on growing prefixes of one run. Plain
  dynamics may never get there: then its entry is null, and ``ratio`` is a
  lower bound (``ratio_is_lower_bound``) computed with its whole budget.
- ``curves``: RMSE and covered bins at every prefix, for both.
- ``throughput``: steps/s of the batched twin under the bias force (one
  ``step`` moves every copy) at several N, against unbiased stepping.
- ``machine``: what it ran on.

    python benchmarks/umbrella.py [--device cpu] [--plain-factor 3] [--target 0.5]
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

# Run as a script, this folder comes first on sys.path, where benchmarks/envs.py would
# shadow the envs package: put the repository root there instead.
_ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == _ROOT / "benchmarks":
    sys.path[0] = str(_ROOT)

from benchmarks.report import emit, machine  # noqa: E402


def throughput(device: str, sizes: list[int], steps: int) -> list[dict]:
    import envs
    from freeenergy import umbrella as um

    out = []
    for n in sizes:
        env = envs.make("freeenergy/MullerBrown-v0", n, device, max_steps=None, max_force=1e4)
        cv = um.LinearCV([0.64, -0.77], device=device)
        centre = torch.linspace(-1.7, 0.7, n, device=device)
        row = {"num_envs": n}
        for name, biased in (("biased_steps_per_s", True), ("unbiased_steps_per_s", False)):
            obs = env.reset(seed=0)
            zero = torch.zeros(n, 2, device=device)
            for _ in range(10):  # warm-up
                obs, *_ = env.step(um.bias_force(obs, cv, centre, 1000.0) if biased else zero)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(steps):
                obs, *_ = env.step(um.bias_force(obs, cv, centre, 1000.0) if biased else zero)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            row[name] = n * steps / (time.perf_counter() - t0)
        out.append(row)
    return out


def curve(xi: np.ndarray, window_n: np.ndarray | None, setup: dict, kT: float, cfg, exact: np.ndarray,
          mask: np.ndarray, prefixes: list[int]) -> list[dict]:
    from experiments.kinds.umbrella import estimate
    from freeenergy import umbrella as um

    rows = []
    for upto in prefixes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            est = estimate(xi, window_n, setup, kT, cfg, upto=upto)
        f = est["pmf"].f
        rows.append({"steps_per_copy": upto, "env_steps": upto * xi.shape[1],
                     "rmse_kT": um.pmf_rmse(f, exact, mask),
                     "bins_covered": int((np.isfinite(f) & mask).sum()), "eval_bins": int(mask.sum())})
    return rows


def first_reaching(rows: list[dict], target: float) -> int | None:
    for r in rows:
        if r["bins_covered"] == r["eval_bins"] and r["rmse_kT"] <= target:
            return r["env_steps"]
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--target", type=float, default=0.5, help="PMF RMSE target in kT")
    ap.add_argument("--plain-factor", type=int, default=3,
                    help="plain dynamics get this many times the umbrella run's budget")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096])
    ap.add_argument("--throughput-steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", default="", help="also write the JSON here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from envs import muller_brown as mb
    from experiments.config.presets import resolve
    from experiments.kinds.umbrella import build_env, cv_setup, sample, window_starts
    from freeenergy import umbrella as um

    cfg = resolve("umbrella-muller-brown", ["logging.wandb=disabled", f"env.device={args.device}"])
    dev = torch.device(args.device)
    env = build_env(cfg, dev)
    kT = float(env.kT)
    setup = cv_setup(cfg, kT)
    steps, n = cfg.run.steps, env.num_envs
    window_n = um.assign_windows(n, cfg.umbrella.windows)
    centre_n = torch.as_tensor(setup["centres"][window_n], dtype=torch.float32, device=dev)
    t0 = time.perf_counter()
    xi_u, _ = sample(env, setup["direction"], steps, centre_n, setup["kappa"], window_starts(setup, window_n, dev), 0)
    t_u = time.perf_counter() - t0
    xi_p, _ = sample(env, setup["direction"], steps * args.plain_factor, None, 0.0, None, 1)
    exact = um.pmf_by_quadrature(mb.potential, setup["direction"], env.map_bounds, setup["edges"], kT)
    mask = np.isfinite(exact) & (exact <= cfg.umbrella.eval_kT)
    eq = cfg.umbrella.equilibration
    pre_u = sorted({int(p) for p in np.geomspace(eq + 100, steps, 7)})
    pre_p = sorted({int(p) for p in np.geomspace(eq + 100, steps * args.plain_factor, 8)})
    cu = curve(xi_u, window_n, setup, kT, cfg, exact, mask, pre_u)
    cp = curve(xi_p, None, setup, kT, cfg, exact, mask, pre_p)
    su, sp_ = first_reaching(cu, args.target), first_reaching(cp, args.target)
    ratio = None
    if su is not None:
        ratio = (sp_ if sp_ is not None else steps * args.plain_factor * n) / su
    result = {
        "benchmark": "umbrella",
        "figure": "env steps to PMF RMSE <= target with umbrella sampling vs plain dynamics; biased twin throughput",
        "unit": "env steps (all copies); ratio = unbiased / umbrella; steps/s",
        "target_rmse_kT": args.target,
        "preset": "umbrella-muller-brown",
        "num_envs": n, "windows": cfg.umbrella.windows, "kT": kT, "kappa": setup["kappa"],
        "steps_to_target": {"umbrella": su, "unbiased": sp_,
                            "unbiased_budget": steps * args.plain_factor * n,
                            "unbiased_reached": sp_ is not None,
                            "ratio": ratio, "ratio_is_lower_bound": sp_ is None},
        "curves": {"umbrella": cu, "unbiased": cp},
        "umbrella_sampling_seconds": t_u,
        "throughput": throughput(args.device, args.sizes, args.throughput_steps),
        "machine": machine(device=args.device),
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
