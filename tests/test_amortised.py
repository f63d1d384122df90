"""The amortised agent: PPO pieces, surprise terms, the dark room, RND's bonus kept alive, bad input."""
from __future__ import annotations

import pytest
import torch

from agents.ppo import PPOSettings, gae
from agents.protocol import Step
from experiments.config import Config, ConfigError, build
from experiments.context import MemoryContext
from experiments.driver import run_agent
from experiments.kinds.agent import make_agent, make_env
from freeenergy.settings import SettingError, from_mapping


def _cfg(env: dict, agent: dict, wm: dict | None = None) -> Config:
    return build(Config, {"env": env, "agent": {"type": "amortised", **agent},
                          "world_model": {"hidden": 32, "code_dim": 4, **(wm or {})}})


def drive(cfg: Config, steps: int, seed: int = 0) -> tuple[dict, list[dict]]:
    """Run ``cfg``'s amortised agent through the run loop for ``steps`` steps per copy: the summary,
    and one logged row per rollout (the agent's update metrics)."""
    torch.manual_seed(seed)
    dev = torch.device("cpu")
    gen = torch.Generator().manual_seed(seed)
    env = make_env(cfg, dev)
    agent = make_agent(cfg, env, dev, gen)
    ctx = MemoryContext.for_steps(steps, seed=seed, interval=cfg.agent.ppo.rollout)
    summary = run_agent(env, agent, ctx=ctx, generator=gen)
    return summary, [r for r in ctx.rows if "ppo/entropy" in r]


def test_gae_matches_a_direct_sum():
    torch.manual_seed(0)
    r, v = torch.rand(5, 3), torch.rand(5, 3)
    nv = torch.rand(3)
    dones = torch.zeros(5, 3, dtype=torch.bool)
    dones[2, 1] = True
    adv, ret = gae(r, v, nv, dones, 0.9, 1.0)  # lambda 1: advantage = discounted return - value
    for n in range(3):
        g = nv[n]
        for t in reversed(range(5)):
            g = r[t, n] + 0.9 * g * (0.0 if dones[t, n] else 1.0)
            assert adv[t, n] == pytest.approx(float(g - v[t, n]), abs=1e-5)
    adv_ne, _ = gae(r, v, nv, None, 0.9, 1.0)  # non-episodic: the done is ignored
    assert adv_ne[2, 1] != pytest.approx(float(adv[2, 1]))
    assert torch.allclose(ret, adv + v)


def test_ppo_settings_bad_input_is_one_line():
    assert from_mapping(PPOSettings, {"rollout": 8}, "agent.ppo").rollout == 8
    assert from_mapping(PPOSettings, None, "agent.ppo") == PPOSettings()
    for bad, key in (({"rolout": 8}, "agent.ppo.rolout"), ({"gamma": 1.5}, "agent.ppo.gamma=1.5"),
                     ({"epochs": 0}, "agent.ppo.epochs=0")):
        with pytest.raises(SettingError) as err:
            from_mapping(PPOSettings, bad, "agent.ppo")
        assert key in str(err.value) and "\n" not in str(err.value)
    for ppo, key in (({"clip": -1}, "agent.ppo.clip=-1.0"), ({"rollout": 8.0}, None),
                     ({"epochs": 0}, "agent.ppo.epochs=0")):
        if key is None:
            assert _cfg({"id": "freeenergy/FourRooms-v0"}, {"ppo": ppo}).agent.ppo.rollout == 8
            continue
        with pytest.raises(ConfigError) as err:
            _cfg({"id": "freeenergy/FourRooms-v0"}, {"ppo": ppo})
        assert str(err.value).startswith(key) and "\n" not in str(err.value)


def test_amortised_needs_discrete_actions():
    cfg = _cfg({"id": "freeenergy/PointMaze-v0", "num_envs": 2}, {"intrinsic": {"name": "rnd"}})
    with pytest.raises(ConfigError) as err:
        make_agent(cfg, make_env(cfg, torch.device("cpu")), torch.device("cpu"), torch.Generator())
    msg = str(err.value)
    assert "agent.type='amortised'" in msg and "Box" in msg and "Discrete" in msg and "\n" not in msg


@pytest.mark.parametrize("surprise,extra", [({"term": "total"}, {}),
                                            ({"term": "epistemic"}, {"online": {"ensemble": 2}}),
                                            ({"term": "aleatoric", "draws": 2}, {}),
                                            ({"term": "predicted"}, {"online": {"surprise_head": True}})])
def test_every_surprise_term_drives_the_policy(surprise, extra):
    cfg = _cfg({"id": "freeenergy/FourRooms-v0", "num_envs": 4},
               {"intrinsic": {"name": "afe"}, "surprise": surprise, "warmup_steps": 2,
                "ppo": {"rollout": 4, "hidden": 8}, **extra}, {"hidden": 8})
    _, history = drive(cfg, 14)
    assert len(history) == 3
    last = history[-1]
    assert last["bonus/normalised"] > 0 and "ppo/entropy" in last and "world_model/loss" in last


def test_state_dict_round_trip_reproduces_actions():
    cfg = _cfg({"id": "freeenergy/FourRooms-v0", "num_envs": 3},
               {"intrinsic": {"name": "rnd"}, "warmup_steps": 2, "ppo": {"rollout": 4, "hidden": 8}})
    dev = torch.device("cpu")
    env = make_env(cfg, dev)
    a1 = make_agent(cfg, env, dev, torch.Generator().manual_seed(0))
    obs = env.reset(seed=0)
    for _ in range(10):
        act = a1.act(obs)
        nxt, rew, term, trunc, info = env.step(act)
        a1.observe(Step(obs, act, info["final_obs"], term | trunc, rew, info["final_map_xy"]))
        a1.update()
        obs = nxt
    a2 = make_agent(cfg, env, dev, torch.Generator().manual_seed(0))
    a2.load_state_dict(a1.state_dict())
    z = a1.normalise(obs)
    assert torch.allclose(a1.learner.net(z)[0], a2.learner.net(z)[0])
    assert a2.steps == a1.steps and torch.allclose(a2.obs_norm.mean, a1.obs_norm.mean)


DARK = {"id": "freeenergy/DarkRoom-v0", "num_envs": 16}


@pytest.mark.parametrize("seed", [0, 1])
def test_dark_room_holds_for_the_amortised_form(seed):
    """fe (surprise minimiser) switches the light off and stays; afe keeps it on."""
    agent = {"surprise": {"term": "total"}, "warmup_steps": 10, "online": {"fit_ratio": 2}, "ext_coef": 0.0,
             "ppo": {"rollout": 16, "hidden": 32}}
    wm = {"code_dim": 8, "lr": 0.002}
    fe, _ = drive(_cfg(DARK, {"intrinsic": {"name": "fe"}, **agent}, wm), 300, seed)
    afe, _ = drive(_cfg(DARK, {"intrinsic": {"name": "afe"}, **agent}, wm), 300, seed)
    assert fe["dark_fraction"] > 0.8, fe
    assert afe["dark_fraction"] < 0.3, afe


def test_rnd_bonus_stays_alive_and_covers_multiroom_like_random():
    """16,000 env steps on MultiRoom: RND's normalised bonus does not collapse (the straw man's fell 10^4-fold)."""
    env = {"id": "freeenergy/MultiRoom-v0", "num_envs": 16}
    ppo = {"rollout": 32, "hidden": 64, "fourier": 64}
    summary, history = drive(_cfg(env, {"intrinsic": {"name": "rnd"}, "ext_coef": 2.0, "warmup_steps": 10,
                                        "ppo": ppo}), 1000)
    bonus = [h["bonus/normalised"] for h in history]
    # After the first update (an untrained predictor errs everywhere) the bonus may shrink a few-fold, not 10^4-fold.
    early, last = sum(bonus[1:6]) / 5, sum(bonus[-5:]) / 5
    assert last > 0.05 * early, bonus
    rand = build(Config, {"env": env, "agent": {"type": "random"}})
    dev = torch.device("cpu")
    renv = make_env(rand, dev)
    rand_summary = run_agent(renv, make_agent(rand, renv, dev, torch.Generator().manual_seed(0)), steps=1000)
    assert summary["coverage"] >= rand_summary["coverage"] - 0.1, (summary["coverage"], rand_summary["coverage"])


def _cartpole(copies: int, **agent) -> Config:
    ppo = {"rollout": 4, "hidden": 8, "minibatches": 2, **agent.pop("ppo", {})}
    return _cfg({"id": "freeenergy/CartPole-v1", "num_envs": copies},
                {"intrinsic": {"name": "afe"}, "warmup_steps": 2, "ext_coef": 1.0, "ppo": ppo, **agent},
                {"hidden": 16, "batch_size": 16})


@pytest.mark.parametrize("spt,expected", [(1.0, 1.0), (2.0, 2.0), (0.0, 16 * 16 / (64 * 18))])
def test_the_world_models_batch_grows_with_the_copies(spt, expected):
    """agent.online.samples_per_transition: every transition is drawn that many times on average
    (0: batches of world_model.batch_size, 16 rows x 16 fit steps for 64 x 18 transitions)."""
    cfg = _cartpole(64, online={"samples_per_transition": spt})
    summary, _ = drive(cfg, 18)  # 2 warm-up steps and 4 rollouts of 4 steps: every row stored is fitted on
    assert summary["samples_per_transition"] == pytest.approx(expected)


def test_the_compiled_learner_matches_the_eager_one():
    """agent.ppo.compile: the same random draws and the same results, to float rounding."""
    eager, eager_rows = drive(_cartpole(8), 14)
    compiled, compiled_rows = drive(_cartpole(8, ppo={"compile": True}), 14)
    assert compiled["final_free_energy"] == pytest.approx(eager["final_free_energy"], rel=1e-4)
    for a, b in zip(eager_rows, compiled_rows, strict=True):
        for key in ("ppo/policy_loss", "ppo/entropy", "ppo/value_loss_ext", "world_model/loss"):
            assert b[key] == pytest.approx(a[key], rel=1e-3, abs=1e-6), key
