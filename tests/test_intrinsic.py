"""One intrinsic-reward stack: every source keeps the protocol, for the amortised agent and SB3 alike."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from agents import intrinsic
from agents.intrinsic.base import IntrinsicSource, Transitions
from experiments.build import make_bonus, make_env, make_source
from experiments.config import Config, ConfigError, build
from freeenergy.settings import Settings, at_least, setting


def _cfg(name: str, **agent) -> Config:
    return build(Config, {"env": {"id": "freeenergy/FourRooms-v0", "num_envs": 3},
                          "world_model": {"hidden": 16, "code_dim": 4},
                          "agent": {"type": "amortised", "intrinsic": {"name": name}, **agent}})


def _batch(env, steps: int, gen: torch.Generator) -> Transitions:
    obs = env.reset(seed=0)
    rows = []
    for _ in range(steps):
        a = env.sample_actions(gen)
        nxt, _, _, _, info = env.step(a)
        rows.append((obs, a, info["final_obs"], info["final_map_xy"]))
        obs = nxt
    return Transitions(*(torch.cat([r[i] for r in rows]) for i in range(4)), num_envs=env.num_envs)


@pytest.mark.parametrize("name", intrinsic.source_names())
def test_every_source_keeps_the_protocol(name):
    cfg = _cfg(name)
    dev, gen = torch.device("cpu"), torch.Generator().manual_seed(0)
    env = make_env(cfg, dev)
    source = make_source(cfg, env, dev, gen)
    assert isinstance(source, IntrinsicSource)
    batch = _batch(env, 4, gen)
    source.warm(batch)
    s = source.score(batch)
    assert s.shape == (len(batch),) and torch.isfinite(s).all()
    metrics = source.learn(2)
    assert isinstance(metrics, dict) and all("/" in k for k in metrics)
    if source.trains_in_minibatches:
        assert "rnd_loss" in source.minibatch(torch.arange(4))
    row = intrinsic.spec(name)
    assert (source.world is not None) == (row.world or row.model)
    if row.world:
        assert source.free_energy is not None and source.free_energy.shape == (len(batch),)
    twin = make_source(cfg, env, dev, torch.Generator().manual_seed(0))
    twin.load_state_dict(source.state_dict())
    if name != "none":  # the same state scores the same batch alike (the same noise draws)
        torch.manual_seed(1)
        theirs = twin.score(batch)
        torch.manual_seed(1)
        torch.testing.assert_close(theirs, source.score(batch), rtol=1e-4, atol=1e-5)


def test_sb3_and_the_amortised_agent_draw_from_the_same_table():
    dev, gen = torch.device("cpu"), torch.Generator().manual_seed(0)
    for name in ("rnd", "count", "afe"):
        cfg = _cfg(name)
        env = make_env(cfg, dev)
        bonus = make_bonus(build(Config, {**_plain(cfg), "agent": {"type": "ppo", "intrinsic": {"name": name}}}),
                           env, dev, gen)
        assert type(bonus.source) is type(make_source(cfg, env, dev, gen))
    assert make_bonus(_cfg("none"), make_env(_cfg("none"), dev), dev, gen) is None


def _plain(cfg: Config) -> dict:
    return {"env": {"id": cfg.env.id, "num_envs": cfg.env.num_envs}, "world_model": {"hidden": 16, "code_dim": 4}}


@dataclass(frozen=True)
class ConstantOptions(Settings):
    value: float = setting(1.0, "The bonus every transition gets.", at_least(0))


class ConstantBonus(IntrinsicSource):
    """A new source: one class with ``build``."""

    def __init__(self, value: float) -> None:
        self.value = value

    @classmethod
    def build(cls, *, options: ConstantOptions, **_) -> ConstantBonus:
        return cls(options.value)

    def score(self, batch: Transitions) -> torch.Tensor:
        return torch.full((len(batch),), self.value)


def test_a_new_source_is_one_class_and_one_row():
    spec = intrinsic.SourceSpec(f"{__name__}:ConstantBonus", "a constant bonus", options="constant")
    intrinsic.register_source("constant", spec, options=ConstantOptions)
    try:
        from experiments.config import agent as agent_config

        cfg = _cfg("constant")  # the options section appears once the config module is rebuilt:
        assert cfg.agent.intrinsic.name == "constant"
        with pytest.raises(ValueError, match="already registered"):
            intrinsic.register_source("constant", intrinsic.SourceSpec("x:Y", "other"))
        dev = torch.device("cpu")
        env = make_env(cfg, dev)
        src = intrinsic.build_source("constant", env=env, options=ConstantOptions(value=0.5), device=dev)
        assert src.score(_batch(env, 1, torch.Generator())).tolist() == [0.5] * 3
        assert agent_config.AgentConfig  # the table stays importable without torch-side changes
    finally:
        intrinsic.SOURCES.pop("constant")
        intrinsic.OPTIONS.pop("constant")
    with pytest.raises(ConfigError, match="agent.intrinsic.name='constant' is invalid"):
        _cfg("constant")
