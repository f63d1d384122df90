"""The adversarial term as a visit signal: Fourier inputs, the code penalty kept out, peek, and the probe."""
from __future__ import annotations

import pytest
import torch
from gymnasium import spaces

from agents.encoding import TransitionEncoder
from agents.intrinsic import source_names
from agents.intrinsic.base import Transitions
from experiments.build import make_env, make_source
from experiments.config import Config, ConfigError, build


def _cfg(sigma: float = 0.1, **agent) -> Config:
    return build(Config, {"env": {"id": "freeenergy/LargeMaze-v0", "num_envs": 8},
                          "world_model": {"hidden": 32, "code_dim": 4, "sigma": sigma},
                          "agent": {"type": "amortised", **agent}})


def test_fourier_features_keep_neighbouring_places_apart():
    gen = torch.Generator().manual_seed(0)
    plain = TransitionEncoder(2, spaces.Discrete(4))
    rich = TransitionEncoder(2, spaces.Discrete(4), fourier=32, fourier_scale=20.0, generator=gen)
    assert rich.dim == 2 * (2 + 64) + 4 and rich.raw_dim == plain.raw_dim == 2 * 2 + 4
    a, b = torch.tensor([[0.0, 0.0]]), torch.tensor([[0.05, 0.0]])  # neighbours, 0.05 normalised units apart
    act = torch.tensor([0])
    d_plain = (plain.encode(a, act, a) - plain.encode(b, act, b)).norm()
    d_rich = (rich.encode(a, act, a) - rich.encode(b, act, b)).norm()
    assert d_rich > 5 * d_plain
    # the projection is part of the state: a restored encoder gives the same features
    other = TransitionEncoder(2, spaces.Discrete(4), fourier=32, fourier_scale=20.0,
                              generator=torch.Generator().manual_seed(1))
    other.load_state_dict(rich.state_dict())
    assert torch.equal(other.encode(a, act, b), rich.encode(a, act, b))


def test_the_world_model_replay_keeps_raw_rows_with_fourier_inputs():
    cfg = _cfg(online={"fourier": 16})
    env = make_env(cfg, "cpu")
    gen = torch.Generator().manual_seed(0)
    source = make_source(cfg, env, torch.device("cpu"), gen)
    obs = env.reset(seed=0)
    act = env.sample_actions(gen)
    nxt, *_ = env.step(act)
    batch = Transitions(obs, act, nxt, None, env.num_envs)
    s = source.score(batch)
    assert s.shape == (8,) and torch.isfinite(s).all()
    enc = source.world.encoder
    assert source.world.replay.rows.shape[1] == enc.raw_dim == 2 * env.obs_dim + 4
    assert source.world.members[0].input_dim == enc.dim == 2 * (env.obs_dim + 32) + 4
    source.learn(2)


def test_planners_refuse_fourier_inputs_naming_the_key():
    from experiments.build import make_agent

    cfg = build(Config, {"env": {"id": "freeenergy/GridMaze-v0", "num_envs": 2}, "agent": {"type": "afe",
                                                                                           "online": {"fourier": 8}}})
    env = make_env(cfg, "cpu")
    with pytest.raises(ConfigError, match="agent.online.fourier=8"):
        make_agent(cfg, env, torch.device("cpu"), torch.Generator())


def test_code_penalty_is_kept_out_of_the_bonus_on_request():
    gen = torch.Generator().manual_seed(0)
    cfg_in, cfg_out = _cfg(0.0), _cfg(0.0, surprise={"code_penalty": False})  # no code noise: exact terms
    env = make_env(cfg_in, "cpu")
    with_pen = make_source(cfg_in, env, torch.device("cpu"), torch.Generator().manual_seed(0))
    without = make_source(cfg_out, env, torch.device("cpu"), torch.Generator().manual_seed(0))
    without.world.members[0].load_state_dict(with_pen.world.members[0].state_dict())
    obs = env.reset(seed=0)
    act = env.sample_actions(gen)
    nxt, *_ = env.step(act)
    batch = Transitions(obs, act, nxt, None, 8)
    for src in (with_pen, without):
        src.world.encoder.update(nxt)
    x = with_pen.world.encoder.encode(obs, act, nxt)
    m = with_pen.world.members[0]
    m.eval()
    without.world.members[0].eval()
    _, terms = m.per_sample_loss(x)
    full, rec = with_pen.peek(batch), without.peek(batch)
    # the difference is the code penalty (lam times it), positive
    assert torch.all(full > rec)
    assert torch.allclose(full - rec, m.lam * terms["code_penalty"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in source_names() if n not in ("none",)])
def test_peek_scores_without_taking_the_batch_in(name):
    cfg = _cfg(0.0, intrinsic={"name": name})  # no code noise: a peek is deterministic
    env = make_env(cfg, "cpu")
    gen = torch.Generator().manual_seed(0)
    source = make_source(cfg, env, torch.device("cpu"), gen)
    obs = env.reset(seed=0)
    act = env.sample_actions(gen)
    nxt, _, _, _, info = env.step(act)
    batch = Transitions(obs, act, info["final_obs"], info["final_map_xy"].float(), 8)
    source.score(batch)
    source.learn(1)
    before = {k: v.clone() if torch.is_tensor(v) else v for k, v in _flat(source.state_dict()).items()}
    first = source.peek(batch)
    second = source.peek(batch)
    assert torch.equal(first, second) and first.shape == (8,)
    after = _flat(source.state_dict())
    assert all(torch.equal(before[k], after[k]) if torch.is_tensor(before[k]) else before[k] == after[k]
               for k in before)


def _flat(d, prefix=""):
    out = {}
    for k, v in (d.items() if isinstance(d, dict) else []):
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        elif torch.is_tensor(v) or isinstance(v, (int, float, str)):
            out[f"{prefix}{k}"] = v
    return out


def test_the_probe_finds_the_frontier_with_exact_counts_and_ranks_visits():
    """The probe's truth: exact counts put every frontier cell above every visited one."""
    from benchmarks.novelty_probe import probe

    row = probe("count", ["agent.intrinsic.name=count"], 100, preset="maze-large-afe", steps=60, num_envs=8,
                device=torch.device("cpu"))
    assert row["frontier_cells"] >= 1 and row["visited_cells"] >= 5
    assert row["frontier_auc"] == pytest.approx(1.0)
    assert row["spearman"] > 0.9
    assert row["selectivity"] < 1.0


def test_knn_novelty_on_fourier_inputs_finds_the_frontier_where_free_energy_blurs_it():
    """On one maze (seed 103: 6 frontier cells, 106 visited) the 0.2.0 free-energy bonus ranks visited cells
    above the frontier (AUC about 0.74); population novelty on Fourier inputs puts the frontier on top."""
    from benchmarks.novelty_probe import CANDIDATES, probe

    rows = {name: probe(name, CANDIDATES[name], 103, preset="maze-large-afe", steps=300, num_envs=16,
                        device=torch.device("cpu")) for name in ("population_input", "free_energy")}
    assert rows["population_input"]["frontier_cells"] >= 3
    assert rows["population_input"]["frontier_auc"] >= 0.95
    assert rows["population_input"]["frontier_auc"] > rows["free_energy"]["frontier_auc"] + 0.1
