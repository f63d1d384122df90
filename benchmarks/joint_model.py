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
- Epistemic term: the world model's own estimate where it has one
  (``WorldModel.epistemic``: ``rae_gmm``'s code novelty, averaged over the
  ``K`` completions), else the spread of its ``K`` completions; the
  ensemble's disagreement. Its Spearman rank correlation with the squared
  error of the mean prediction over the familiar and novel conditions (and
  over all conditions, tv included: there the error is the TV's irreducible
  noise), and its mean on novel over familiar conditions; ``_revealed``: that
  ratio with only the novel conditions whose observation never occurs in the
  training rows (DarkRoom's dark observations are all equal, wherever the
  agent is, so no model of observations can tell a novel dark condition from
  a familiar one).
- Calibration (``coverage_<split>``): the share of true next observations
  inside the ball around the mean prediction that holds 90% of the predicted
  draws (radius at least ``--coverage-tol``); about 0.9 when calibrated.

Variants (``--models``): the baselines, and ``rae_cond`` / ``rae_gmm_cond``,
the RAE family trained as a conditional sampler of ``obs_t+1`` (the energy
score of :mod:`freeenergy.conditional`, ``condition_dim`` = the width of
``[obs_t, action_t]``). ``--seeds`` repeats everything per seed; ``results``
holds each figure's mean, min and max over the seeds per env and model,
``goals`` the issue's goals per RAE-family variant, ``per_seed`` the rest.

    python benchmarks/joint_model.py --seeds 0 1 2 --out benchmarks/results/joint_model.json
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
from benchmarks.report import emit, machine, write  # noqa: E402
from freeenergy.dynamics_ensemble import DynamicsEnsemble  # noqa: E402
from freeenergy.metrics import conditional_energy_distance  # noqa: E402
from freeenergy.models import build_world_model  # noqa: E402

ENVS = {"noisytv": "freeenergy/NoisyTV-v0", "darkroom": "freeenergy/DarkRoom-v0",
        "pointmaze": "freeenergy/PointMaze-v0"}
#: name -> (world model, options); "condition_dim": "known" is the width of [obs_t, action_t].
RAE_NET = {"hidden": [128, 128], "code_dim": 16, "passes": 3, "sigma": 0.1, "code_penalty": 0.03}
VARIANTS: dict[str, tuple[str, dict]] = {
    "rae": ("rae", RAE_NET),
    "rae_gmm": ("rae_gmm", RAE_NET),
    "vae": ("vae", {"hidden": [128, 128], "code_dim": 16}),
    "ensemble": ("ensemble", {}),
    # The RAE family trained as a conditional sampler of obs_t+1 (freeenergy.conditional), one clamped pass.
    "rae_cond": ("rae", {**RAE_NET, "condition_dim": "known", "complete_steps": 1}),
    "rae_gmm_cond": ("rae_gmm", {**RAE_NET, "condition_dim": "known", "complete_steps": 1}),
}
MODELS = tuple(VARIANTS)
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


def train(name: str, x: torch.Tensor, n_known: int, args: argparse.Namespace):
    """Variant ``name`` trained for ``args.train_steps`` batches of ``args.batch`` rows of ``x``."""
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    kind, options = VARIANTS[name]
    if kind == "ensemble":
        model = DynamicsEnsemble(in_dim=n_known, out_dim=x.shape[1] - n_known)
        fit = lambda xb: model.fit_step(xb[:, :n_known], xb[:, n_known:])  # noqa: E731
    else:
        kw = {**options, **overrides(kind, args.set)}
        kw = {k: (n_known if v == "known" else v) for k, v in kw.items()}
        model = build_world_model(kind, x.shape[1], **kw)
        fit = model.fit_step
    for _ in range(args.train_steps):
        fit(x[torch.randint(0, len(x), (args.batch,), generator=g)])
    return model


def overrides(kind: str, pairs: list[str]) -> dict:
    """``--set key=value`` options (YAML values) that world model ``kind`` reads."""
    import yaml

    from freeenergy.model_table import spec
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key in spec(kind).uses:
            out[key] = yaml.safe_load(value)
    return out


@torch.no_grad()
def predict(name: str, model, known: torch.Tensor, k: int, out_dim: int,
            seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(M, K, O)`` predicted next observations and ``(M,)`` epistemic term.

    The ensemble samples a member, then its Gaussian, and its epistemic term
    is the members' disagreement; a world model with its own ``epistemic``
    estimate (``rae_gmm``: code novelty) gives it for each of the ``K``
    completions, averaged; another world model's term is the spread of its
    ``K`` completions.
    """
    m = known.shape[0]
    rows = known.repeat_interleave(k, 0)
    g = torch.Generator().manual_seed(seed)
    if name == "ensemble":
        pred = model.sample(rows, g).view(m, k, out_dim)
        return pred, model.disagreement(known)
    x = torch.cat([rows, torch.zeros(len(rows), out_dim)], 1)
    mask = torch.zeros(x.shape[1], dtype=torch.bool)
    mask[: known.shape[1]] = True
    full = model.complete(x, mask, generator=g)
    pred = full[:, known.shape[1]:].view(m, k, out_dim)
    if hasattr(model, "epistemic"):
        return pred, model.epistemic(full).view(m, k).mean(1)
    return pred, pred.var(1, unbiased=False).mean(-1)


def coverage(pred: torch.Tensor, truth: torch.Tensor, tol: float) -> torch.Tensor:
    """Share of true draws inside the predicted spread, per condition: ``(M, K, O), (M, L, O) -> (M,)``.

    The spread is the ball around the mean prediction holding 90% of the
    predicted draws (radius at least ``tol``, so that an exact deterministic
    prediction counts); a calibrated model scores about 0.9.
    """
    centre = pred.mean(1, keepdim=True)
    radius = torch.quantile((pred - centre).norm(dim=-1), 0.9, dim=1).clamp_min(tol)
    return ((truth - centre).norm(dim=-1) <= radius[:, None]).float().mean(1)


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


def revealed(obs: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """``(M,)`` bool: observation ``obs[i]`` occurs nowhere in ``seen`` ``(N, O)`` (the condition can show novelty)."""
    return torch.stack([~(seen == o).all(1).any() for o in obs])


def score_model(name: str, model, enc: Encoding, cond: dict, truth: dict, args: argparse.Namespace) -> dict:
    """Energy distance, coverage and epistemic term per split, and the epistemic term's rank correlations."""
    r: dict = {}
    errs, epis = {}, {}
    for split in cond:
        pred, epi = predict(name, model, enc.known(cond[split]), args.k, truth[split].shape[-1], args.seed + 3)
        tr = truth[split][:, : args.k]
        r[f"energy_distance_{split}"] = float(conditional_energy_distance(pred, tr).mean())
        r[f"coverage_{split}"] = float(coverage(pred, tr, args.coverage_tol).mean())
        errs[split], epis[split] = (pred.mean(1, keepdim=True) - tr).pow(2).mean((1, 2)), epi
        r[f"epistemic_{split}"] = float(epi.mean())
    both = ("familiar", "novel")
    r["epistemic_rank_correlation"] = float(spearmanr(torch.cat([epis[s] for s in both]),
                                                      torch.cat([errs[s] for s in both])).statistic)
    if "tv" in cond:
        r["epistemic_rank_correlation_with_tv"] = float(spearmanr(torch.cat(list(epis.values())),
                                                                  torch.cat(list(errs.values()))).statistic)
    r["epistemic_novel_over_familiar"] = r["epistemic_novel"] / max(r["epistemic_familiar"], 1e-12)
    shown = epis["novel"][cond["novel"]["revealed"]]
    if len(shown):
        r["epistemic_novel_over_familiar_revealed"] = float(shown.mean() / epis["familiar"].mean().clamp_min(1e-12))
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
        cond[split]["revealed"] = revealed(cond[split]["obs"], train_rows["obs"])
        out[f"revealed_share_{split}"] = float(cond[split]["revealed"].float().mean())
        truth[split] = enc.obs(true_next(key, cond[split], 2 * args.k, args.seed + 2))
        a, b = truth[split][:, : args.k], truth[split][:, args.k:]
        out[f"conditions_{split}"] = len(idx)
        out[f"floor_{split}"] = float(conditional_energy_distance(a, b).mean())
        out[f"tv_share_{split}"] = float(cond[split]["tv"].float().mean())
    for name in args.models:
        t = time.process_time()
        model = train(name, x, n_known, args)
        out["models"][name] = {"train_cpu_seconds": round(time.process_time() - t, 1),
                               **score_model(name, model, enc, cond, truth, args)}
    return out


def aggregate(per_seed: dict[str, dict]) -> dict:
    """Per env: every number as ``{mean, min, max}`` over the seeds that have it (models' under ``models``)."""
    def stats(values: list) -> dict:
        v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
        if not len(v):
            return {"mean": float("nan"), "min": float("nan"), "max": float("nan")}
        return {"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max())}

    out: dict = {}
    runs = list(per_seed.values())
    for env in runs[0]:
        keys = dict.fromkeys(k for r in runs for k, v in r[env].items() if isinstance(v, (int, float)))
        out[env] = {k: stats([r[env].get(k) for r in runs]) for k in keys}
        out[env]["models"] = {}
        for m in runs[0][env]["models"]:
            mk = dict.fromkeys(k for r in runs for k in r[env]["models"][m])
            out[env]["models"][m] = {k: stats([r[env]["models"][m].get(k) for r in runs]) for k in mk}
    return out


def goals(summary: dict) -> dict:
    """The issue's goals, judged on the seed means of the best RAE-family variant for each."""
    def mean(env: str, model: str, key: str) -> float:
        return summary[env]["models"][model].get(key, {}).get("mean", float("nan"))

    family = [m for m in next(iter(summary.values()))["models"] if m.startswith("rae")]
    out: dict = {}
    for m in family:
        out[m] = {"epistemic_novel_over_familiar_min": min(mean(e, m, "epistemic_novel_over_familiar")
                                                           for e in summary),
                  "epistemic_rank_correlation_min": min(mean(e, m, "epistemic_rank_correlation") for e in summary),
                  "epistemic_novel_over_familiar_revealed_min": min(
                      mean(e, m, "epistemic_novel_over_familiar_revealed") for e in summary)}
        if all("ensemble" in summary[e]["models"] for e in summary):
            out[m]["energy_distance_familiar_over_ensemble_max"] = max(
                mean(e, m, "energy_distance_familiar") / mean(e, "ensemble", "energy_distance_familiar")
                for e in summary)
        if "noisytv" in summary and "floor_tv" in summary["noisytv"]:
            out[m]["tv_energy_distance_over_floor"] = (mean("noisytv", m, "energy_distance_tv")
                                                       / summary["noisytv"]["floor_tv"]["mean"])
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--envs", nargs="+", default=list(ENVS))
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--copies", type=int, default=64, help="env copies per rollout")
    p.add_argument("--steps", type=int, default=200, help="rollout length")
    p.add_argument("--train-steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--conditions", type=int, default=40, help="held-out conditions per split")
    p.add_argument("--k", type=int, default=32, help="draws per condition")
    p.add_argument("--coverage-tol", type=float, default=0.1, help="smallest radius of the predicted spread")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--set", nargs="*", default=[], help="world-model options for every variant that reads them")
    p.add_argument("--out", default="")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    per_seed: dict[str, dict] = {}
    result = {"benchmark": "joint_model", "figure": "conditional generation of obs_t+1 and epistemic calibration",
              "unit": "energy distance per condition (normalised obs units, lower is better); Spearman rho; "
                      "coverage: share of true draws inside the 90% predicted spread",
              "settings": {**vars(args), "variants": {m: VARIANTS[m] for m in args.models}},
              "machine": machine(), "results": {}}
    for seed in args.seeds:
        run = argparse.Namespace(**{**vars(args), "seed": seed})
        per_seed[str(seed)] = {key: evaluate_env(key, run) for key in args.envs}
        summary = aggregate(per_seed)
        result["results"] = {**summary, "goals": goals(summary), "per_seed": per_seed,
                             "wall_seconds": round(time.perf_counter() - start, 1)}
        write(result, args.out)
    emit(result)
    return result


if __name__ == "__main__":
    main()
