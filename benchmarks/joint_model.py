"""The joint model the agents predict with, measured on held-out transitions; prints JSON.

For NoisyTV (the TV's channels are uniform noise), DarkRoom (objects walk at
random) and PointMaze, random-action rollouts give transitions ``x = [obs_t,
action_t, obs_t+1]`` (observations standardised, actions one-hot or raw).
NoisyTV's rollouts start in uniformly random reachable cells (the env's
``random_start``), so that they reach the TV; the other worlds start where
their env starts them. The models learn from the *familiar* region only (map
x-coordinate at or above a cut with at least 20% of the rollouts' states
below it); held-out conditions ``(obs, action)`` are drawn from fresh
rollouts in the familiar region and outside it (*novel*), and, where any
held-out next state is at a TV, from those transitions (*tv*: the next
observation's TV channels are fresh uniform noise).

- Conditional generation: for each condition the env is set ``K`` times to
  its state and stepped with its action (the true next-observation
  distribution); each model predicts ``K`` next observations (``complete()``
  with ``obs_t, action_t`` known; the ensemble samples a member, then its
  Gaussian). Figure: energy distance per condition, averaged (lower is
  better; ``floor`` is two independent true sets, the metric's noise).
- Epistemic term: the spread of a single model's ``K`` completions (the
  agents' epistemic term with one member and several draws) or the
  ensemble's disagreement; its Spearman rank correlation with the squared
  error of the mean prediction over the familiar and novel conditions (and
  over all conditions, tv included: there the error is the TV's irreducible
  noise), and its mean on novel over familiar conditions.

    python benchmarks/joint_model.py --out benchmarks/results/joint_model.json
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == _ROOT / "benchmarks":  # benchmarks/envs.py would shadow envs
    sys.path[0] = str(_ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

import envs  # noqa: E402
from benchmarks.report import emit, machine  # noqa: E402
from freeenergy.dynamics_ensemble import DynamicsEnsemble  # noqa: E402
from freeenergy.metrics import conditional_energy_distance  # noqa: E402
from freeenergy.models import build_world_model  # noqa: E402

ENVS = {"noisytv": "freeenergy/NoisyTV-v0", "darkroom": "freeenergy/DarkRoom-v0",
        "pointmaze": "freeenergy/PointMaze-v0"}
MODELS = ("rae", "rae_gmm", "vae", "ensemble")
# From NoisyTV's start, two rooms from its TV, 0.3-0.6% of 64 x 200 random-action steps reach it.
ENV_KWARGS: dict[str, dict] = {"noisytv": {"random_start": True}}


def rollouts(key: str, copies: int, steps: int, seed: int) -> dict[str, torch.Tensor]:
    """Random-action transitions (episode ends dropped): obs, act, nxt, state, xy, tv (next state at a TV)."""
    env = envs.make(ENVS[key], num_envs=copies, **ENV_KWARGS.get(key, {}))
    g = torch.Generator().manual_seed(seed)
    obs = env.reset(seed=seed)
    out: dict[str, list] = {k: [] for k in ("obs", "act", "nxt", "state", "xy", "tv")}
    for _ in range(steps):
        state, xy = env.get_state().clone(), env.map_xy().clone()
        act = env.sample_actions(g)
        nxt, _, term, trunc, info = env.step(act)
        keep = ~(term | trunc)
        tv = info.get("at_tv", torch.zeros(copies, dtype=torch.bool))
        for k, v in zip(out, (obs, act, nxt, state, xy, tv)):
            out[k].append(v[keep])
        obs = nxt
    return {k: torch.cat(v) for k, v in out.items()}


class Encoding:
    """Standardised observations and encoded actions, fitted on the training rows."""

    def __init__(self, data: dict[str, torch.Tensor], env: envs.BatchedEnv) -> None:
        both = torch.cat([data["obs"], data["nxt"]]).float()
        self.mean, self.std = both.mean(0), both.std(0).clamp_min(0.05)
        self.discrete, self.n_act = env.action_is_discrete, env.num_actions if env.action_is_discrete else 0

    def obs(self, o: torch.Tensor) -> torch.Tensor:
        return (o.float() - self.mean) / self.std

    def act(self, a: torch.Tensor) -> torch.Tensor:
        if self.discrete:
            return torch.nn.functional.one_hot(a.long().view(-1), self.n_act).float()
        return a.float().view(a.shape[0], -1)

    def known(self, d: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([self.obs(d["obs"]), self.act(d["act"])], 1)


def true_next(key: str, cond: dict[str, torch.Tensor], k: int, seed: int) -> torch.Tensor:
    """``(M, K, O)`` next observations: each condition's state stepped ``K`` times with its action."""
    env = envs.make(ENVS[key], num_envs=k, **ENV_KWARGS.get(key, {}))
    env.reset(seed=seed)
    rows = []
    for i in range(len(cond["obs"])):
        env.set_state(torch.arange(k), cond["state"][i])
        act = cond["act"][i:i + 1].expand(k, *cond["act"].shape[1:])
        rows.append(env.step(act)[0])
    return torch.stack(rows)


def train(name: str, x: torch.Tensor, n_known: int, steps: int, batch: int, seed: int):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    if name == "ensemble":
        model = DynamicsEnsemble(in_dim=n_known, out_dim=x.shape[1] - n_known)
        fit = lambda xb: model.fit_step(xb[:, :n_known], xb[:, n_known:])  # noqa: E731
    else:
        kw = {"passes": 3, "sigma": 0.1, "code_penalty": 0.03} if name.startswith("rae") else {}
        model = build_world_model(name, x.shape[1], hidden=[128, 128], code_dim=16, **kw)
        fit = model.fit_step
    for _ in range(steps):
        fit(x[torch.randint(0, len(x), (batch,), generator=g)])
    return model


@torch.no_grad()
def predict(name: str, model, known: torch.Tensor, k: int, out_dim: int,
            seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(M, K, O)`` predicted next observations and ``(M,)`` epistemic term."""
    m = known.shape[0]
    rows = known.repeat_interleave(k, 0)
    g = torch.Generator().manual_seed(seed)
    if name == "ensemble":
        pred = model.sample(rows, g).view(m, k, out_dim)
        return pred, model.disagreement(known)
    x = torch.cat([rows, torch.zeros(len(rows), out_dim)], 1)
    mask = torch.zeros(x.shape[1], dtype=torch.bool)
    mask[: known.shape[1]] = True
    pred = model.complete(x, mask, generator=g)[:, known.shape[1]:].view(m, k, out_dim)
    return pred, pred.var(1, unbiased=False).mean(-1)


def novel_cut(x: torch.Tensor, share: float = 0.2) -> float:
    """Smallest map x-coordinate with at least ``share`` of the rows below it (grid coordinates repeat)."""
    values = torch.unique(x)
    for v in values:
        if float((x < v).float().mean()) >= share:
            return float(v)
    return float(values[-1])


def pick_conditions(held: dict[str, torch.Tensor], cut: float, n: int, seed: int) -> dict[str, np.ndarray]:
    """Row indices of the held-out conditions per split, at most ``n`` each: familiar (map x >= ``cut``),
    novel (below it) and, where any held-out next state is at a TV, tv (those transitions)."""
    g = np.random.default_rng(seed)
    is_fam = (held["xy"][:, 0] >= cut).numpy()
    pools = {"familiar": is_fam, "novel": ~is_fam, "tv": held["tv"].numpy().astype(bool)}
    return {split: g.choice(np.flatnonzero(m), min(n, int(m.sum())), replace=False)
            for split, m in pools.items() if m.any()}


def score_model(name: str, model, enc: Encoding, cond: dict, truth: dict, args: argparse.Namespace) -> dict:
    """Energy distance and epistemic term per split, and the epistemic term's rank correlations."""
    r: dict = {}
    errs, epis = {}, {}
    for split in cond:
        pred, epi = predict(name, model, enc.known(cond[split]), args.k, truth[split].shape[-1], args.seed + 3)
        tr = truth[split][:, : args.k]
        r[f"energy_distance_{split}"] = float(conditional_energy_distance(pred, tr).mean())
        errs[split], epis[split] = (pred.mean(1, keepdim=True) - tr).pow(2).mean((1, 2)), epi
        r[f"epistemic_{split}"] = float(epi.mean())
    both = ("familiar", "novel")
    r["epistemic_rank_correlation"] = float(spearmanr(torch.cat([epis[s] for s in both]),
                                                      torch.cat([errs[s] for s in both])).statistic)
    if "tv" in cond:
        r["epistemic_rank_correlation_with_tv"] = float(spearmanr(torch.cat(list(epis.values())),
                                                                  torch.cat(list(errs.values()))).statistic)
    r["epistemic_novel_over_familiar"] = r["epistemic_novel"] / max(r["epistemic_familiar"], 1e-12)
    return r


def evaluate_env(key: str, args: argparse.Namespace) -> dict:
    data = rollouts(key, args.copies, args.steps, args.seed)
    cut = novel_cut(data["xy"][:, 0].float())
    fam = data["xy"][:, 0] >= cut
    train_rows = {k: v[fam] for k, v in data.items()}
    enc = Encoding(train_rows, envs.make(ENVS[key], num_envs=1))
    x = torch.cat([enc.known(train_rows), enc.obs(train_rows["nxt"])], 1)
    n_known = x.shape[1] - data["obs"].shape[1]
    held = rollouts(key, args.copies, args.steps, args.seed + 1)
    out: dict = {"train_transitions": int(len(x)), "train_tv_share": float(train_rows["tv"].float().mean()),
                 "x_dim": int(x.shape[1]), "models": {}}
    truth, cond = {}, {}
    for split, idx in pick_conditions(held, cut, args.conditions, args.seed).items():
        cond[split] = {k: v[torch.as_tensor(idx)] for k, v in held.items()}
        truth[split] = enc.obs(true_next(key, cond[split], 2 * args.k, args.seed + 2))
        a, b = truth[split][:, : args.k], truth[split][:, args.k:]
        out[f"conditions_{split}"] = len(idx)
        out[f"floor_{split}"] = float(conditional_energy_distance(a, b).mean())
        out[f"tv_share_{split}"] = float(cond[split]["tv"].float().mean())
    for name in MODELS:
        t = time.process_time()
        model = train(name, x, n_known, args.train_steps, args.batch, args.seed)
        out["models"][name] = {"train_cpu_seconds": round(time.process_time() - t, 1),
                               **score_model(name, model, enc, cond, truth, args)}
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--envs", nargs="+", default=list(ENVS))
    p.add_argument("--copies", type=int, default=64, help="env copies per rollout")
    p.add_argument("--steps", type=int, default=200, help="rollout length")
    p.add_argument("--train-steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--conditions", type=int, default=40, help="held-out conditions per split")
    p.add_argument("--k", type=int, default=32, help="draws per condition")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    result = {"benchmark": "joint_model", "figure": "conditional generation of obs_t+1 and epistemic calibration",
              "unit": "energy distance per condition (normalised obs units, lower is better); Spearman rho",
              "settings": vars(args),
              "machine": machine(),
              "results": {key: evaluate_env(key, args) for key in args.envs}}
    result["results"]["wall_seconds"] = round(time.perf_counter() - start, 1)
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
