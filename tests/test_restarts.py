"""Return-then-explore restarts: the same for every agent, ranked by novelty, refused where they cannot work."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.baselines import RandomAgent
from agents.restarts import Restarts
from experiments.build import make_env, make_restarts
from experiments.config import Config, ConfigError, build
from experiments.driver import run_agent
from experiments.kinds.agent import RestartsHook


def _cfg(**restarts) -> Config:
    return build(Config, {"env": {"id": "freeenergy/LargeMaze-v0", "num_envs": 8},
                          "world_model": {"hidden": 16, "code_dim": 4},
                          "agent": {"type": "random"}, "restarts": {"every": 16, **restarts}})


def _walk(restarts: Restarts | None, seed: int, steps: int = 400) -> tuple[float, int]:
    cfg = _cfg()
    dev = torch.device("cpu")
    env = make_env(cfg, dev)
    gen = torch.Generator().manual_seed(seed)
    agent = RandomAgent(env.single_action_space, dev, gen)
    hooks = [] if restarts is None else [RestartsHook(restarts)]
    out = run_agent(env, agent, steps=steps, seed=seed, generator=gen, hooks=hooks)
    return out["coverage"], (0 if restarts is None else restarts.restarts)


class _Env:
    """N copies whose state is a number; set_state records where copies were put."""

    device = torch.device("cpu")

    def __init__(self, n: int) -> None:
        self.n, self.t, self.put = n, 0, {}

    def get_state(self) -> torch.Tensor:
        return (self.t * 100 + torch.arange(self.n)).float()[:, None]

    def set_state(self, idx: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        self.put.update(zip(idx.tolist(), states[:, 0].tolist()))
        obs = torch.zeros(self.n, 1)
        obs[idx] = -1.0
        return obs  # every copy's observation, as BatchedEnv.set_state returns


class _Ranker:
    """Scores a transition by its next observation; takes in and learns nothing of use."""

    def score(self, batch):
        return batch.next_obs[:, 0]

    def learn(self, steps):
        return {}

    def peek(self, batch):
        return batch.next_obs[:, 0]


def test_restarts_put_copies_at_the_top_ranked_states_met_since_the_last_restart():
    n, every = 10, 5
    env, gen = _Env(n), torch.Generator().manual_seed(0)
    r = Restarts(num_envs=n, every=every, fraction=0.3, top=0.04, ranker=_Ranker(), generator=gen)
    obs = torch.zeros(n, 1)
    from agents.protocol import Step

    for t in range(1, every + 1):
        r.before_step(env)
        state = env.get_state()
        env.t += 1
        # the transition from state s scores s: the highest scores are the last step's last copies
        r.observed(Step(obs, torch.zeros(n, dtype=torch.long), state, torch.zeros(n, dtype=torch.bool),
                        torch.zeros(n), None))
        obs = r.after_step(env, None, torch.zeros(n, 1), t)
    assert r.restarts == 3 and len(env.put) == 3
    top2 = {409.0, 408.0}  # top 4% of 50 states: 2 states, those of the highest scores
    assert set(env.put.values()) <= top2
    restarted = torch.tensor(sorted(env.put))
    assert (obs[restarted] == -1).all() and (obs.sum() == -3)


def test_ranked_restarts_cover_more_than_uniform_ones_and_no_restarts():
    """Random walkers on the large maze: count-ranked restarts beat uniform restarts on every seed."""
    dev = torch.device("cpu")
    for seed in (0, 1, 2):
        covs = {}
        for rank in ("count", "uniform"):
            cfg = _cfg(rank=rank)
            env = make_env(cfg, dev)
            gen = torch.Generator().manual_seed(seed)
            covs[rank], n = _walk(make_restarts(cfg, env, dev, gen), seed)
            assert n > 0
        covs["none"], _ = _walk(None, seed)
        assert covs["count"] > 1.3 * covs["uniform"], covs
        assert covs["count"] > 1.3 * covs["none"], covs


def test_restarts_are_refused_for_an_env_without_set_state_naming_env_and_key():
    cfg = build(Config, {"env": {"id": "CartPole-v1", "num_envs": 2}, "agent": {"type": "random"},
                         "restarts": {"every": 8}})
    env = make_env(cfg, "cpu")
    with pytest.raises(ConfigError) as err:
        make_restarts(cfg, env, torch.device("cpu"), torch.Generator())
    msg = str(err.value)
    assert "restarts.every=8" in msg and "CartPole-v1" in msg and "set_state" in msg and "\n" not in msg


@pytest.mark.parametrize("bad, key", [({"fraction": 0}, "restarts.fraction"), ({"top": 1.5}, "restarts.top"),
                                      ({"rank": "fe"}, "restarts.rank"), ({"every": -1}, "restarts.every")])
def test_bad_restart_settings_name_the_key(bad, key):
    with pytest.raises(ConfigError, match=key):
        build(Config, {"agent": {"type": "random"}, "restarts": {"every": 8, **bad}})


def test_sb3_agents_are_refused_restarts():
    with pytest.raises(ConfigError, match="restarts.every"):
        build(Config, {"agent": {"type": "ppo"}, "restarts": {"every": 8}})


def test_restart_pool_is_in_the_memory_estimate():
    from experiments.guards import estimate_parts

    cfg = build(Config, {"env": {"num_envs": 1 << 20}, "agent": {"type": "random"}, "restarts": {"every": 4096}})
    parts = estimate_parts(cfg)
    assert parts["restart pool"][0] > 5e11 and "restarts.every=4096" in parts["restart pool"][1]
    from experiments.guards import check_memory

    with pytest.raises(ConfigError) as err:
        check_memory(cfg, "cpu")
    assert "\n" not in str(err.value) and "GiB" in str(err.value) or "TiB" in str(err.value)


def test_a_resumed_run_keeps_the_ranker():
    cfg = _cfg(rank="count")
    env = make_env(cfg, "cpu")
    r = make_restarts(cfg, env, torch.device("cpu"), torch.Generator().manual_seed(0))
    r.ranker.counts += torch.arange(r.ranker.counts.numel()).float()
    r.restarts = 7
    state = r.state_dict()
    fresh = make_restarts(cfg, env, torch.device("cpu"), torch.Generator().manual_seed(0))
    fresh.load_state_dict(state)
    assert fresh.restarts == 7 and np.allclose(fresh.ranker.counts.numpy(), r.ranker.counts.numpy())


@pytest.mark.parametrize("over, part, key", [
    ({"agent": {"intrinsic": {"name": "population", "population": {"archive": 1 << 33}}}},
     "population archive", "agent.intrinsic.population.archive"),
    ({"env": {"num_envs": 1 << 16}, "agent": {"online": {"fourier": 1024}, "intrinsic": {"episodic": {"on": True}}}},
     "episodic covariances", "env.num_envs"),
])
def test_population_and_episodic_memory_is_refused_in_one_line(over, part, key):
    from experiments.guards import check_memory, estimate_parts

    cfg = build(Config, {"agent": {"type": "amortised", **over.get("agent", {})}, "env": over.get("env", {})})
    assert estimate_parts(cfg)[part][0] > 1e11
    with pytest.raises(ConfigError) as err:
        check_memory(cfg, "cpu")
    msg = str(err.value)
    assert "\n" not in msg and part in msg and key in msg
