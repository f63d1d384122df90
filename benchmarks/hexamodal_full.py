"""The hexamodal set in the source's full setting: 10,000 steps of fresh batches of 1,000; prints JSON.

One network is trained with the ``generative-hexamodal`` preset's model
settings (2 -> 256 ReLU -> 256 sigmoid code, noise 0.4, 7 passes, no code
penalty, Adam 1e-3) as ``rae_gmm`` (whose training is the plain RAE's), and
its samples are scored two ways from the same weights:

- ``rae``: the source's sampling (uniform points in the square, 77 noisy
  decode-encode steps);
- ``rae_gmm``: starts from the Gaussian mixture fitted to the training codes,
  ``passes`` decodes.

A checkpoint is written to ``--checkpoint`` every ``--checkpoint-every`` steps,
so a run that is stopped early can still be scored with ``--resume``.

    python benchmarks/hexamodal_full.py --out benchmarks/results/hexamodal_full.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

_ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == _ROOT / "benchmarks":  # benchmarks/envs.py would shadow envs
    sys.path[0] = str(_ROOT)

from benchmarks.report import emit, machine  # noqa: E402
from experiments.kinds.generative import score  # noqa: E402
from freeenergy.data import make_synthetic  # noqa: E402
from freeenergy.models import build_world_model, load_world_model  # noqa: E402
from freeenergy.world_model import WorldModel  # noqa: E402

NET = {"hidden": [256], "code_dim": 256, "code_activation": "sigmoid", "output_activation": "sigmoid",
       "prior": "uniform", "passes": 7, "sigma": 0.4, "code_penalty": 0.0, "lr": 1e-3}


def train(steps: int, batch: int, seed: int, ckpt: Path, every: int, resume: bool) -> tuple[WorldModel, float, int]:
    """Train (or continue) the network; returns (model, seconds, steps done)."""
    torch.manual_seed(seed)
    model = build_world_model("rae_gmm", 2, **NET)
    done = 0
    if resume and ckpt.exists():
        model = load_world_model(ckpt)
        done = int(json.loads(ckpt.with_suffix(".json").read_text())["steps"])
    rng = np.random.default_rng(seed + 7919)
    start = time.perf_counter()
    for step in range(done + 1, steps + 1):
        model.fit_step(torch.from_numpy(make_synthetic("hexamodal", batch, int(rng.integers(2**31)))))
        if step % every == 0 or step == steps:
            model.save(ckpt)
            ckpt.with_suffix(".json").write_text(json.dumps({"steps": step}))
            print(f"step {step} {time.perf_counter() - start:.0f}s", file=sys.stderr, flush=True)
    return model, time.perf_counter() - start, steps


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=10000)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--samples", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --out")
    p.add_argument("--checkpoint", default="hexamodal_full.pt", help="checkpoint file (model weights)")
    p.add_argument("--out", default="", help="also write the JSON here")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    ckpt = Path(args.checkpoint)
    model, seconds, done = train(args.steps, args.batch, args.seed, ckpt, args.checkpoint_every, args.resume)
    data = make_synthetic("hexamodal", 10000, args.seed)
    reference = make_synthetic("hexamodal", args.samples, args.seed + 1_000_003)
    model.fit_prior(torch.from_numpy(data))
    gen = torch.Generator().manual_seed(args.seed + 100)
    x0 = torch.rand((args.samples, 2), generator=gen) * (data.max(0) - data.min(0)) + data.min(0)
    t = time.perf_counter()
    plain = model.sample(args.samples, steps=77, generator=gen, x0=x0.float()).numpy()
    t_plain = time.perf_counter() - t
    t = time.perf_counter()
    gmm = model.sample(args.samples, steps=NET["passes"], generator=gen).numpy()
    t_gmm = time.perf_counter() - t
    results = {"rae": score("hexamodal", plain, reference, 4000, args.seed),
               "rae_gmm": score("hexamodal", gmm, reference, 4000, args.seed)}
    results["rae"]["sample_seconds"] = round(t_plain, 3)
    results["rae_gmm"]["sample_seconds"] = round(t_gmm, 3)
    results["rae_gmm"]["prior_components"] = model.code_prior.components
    out = {"benchmark": "hexamodal_full", "figure": "hexamodal, full setting (10,000 steps of 1,000)",
           "unit": "energy distance / modes / shares", "settings": {**vars(args), "net": NET},
           "machine": machine(),
           "results": {"train_seconds": round(seconds, 1), "steps": done, "models": results}}
    emit(out, args.out)
    return out


if __name__ == "__main__":
    main()
