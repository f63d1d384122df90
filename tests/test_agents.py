"""Agents: encoding, replay, planner maths, surprise terms, the planning agents."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from agents.base import PlanningAgent
from agents.encoding import ActionCodec, RunningNorm, TransitionEncoder
from agents.explore import Visitation
from agents.online import OnlineWorldModel
from agents.planner import Planner
from agents.replay import ReplayBuffer
from agents.protocol import Step
from agents.terms import StepPrediction, aleatoric_surprise, epistemic_surprise, total_surprise
from freeenergy.rae import RAE



# ------------------------------------------------------------------ encoding
def test_running_norm_matches_numpy():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(500, 3))
    norm = RunningNorm(3, std_floor=1e-6)
    for chunk in np.array_split(data, 7):
        norm.update(torch.as_tensor(chunk))
    np.testing.assert_allclose(norm.mean.numpy(), data.mean(0), rtol=1e-9)
    np.testing.assert_allclose(norm.std.numpy(), data.std(0), rtol=1e-9)


def test_running_norm_floor_keeps_constant_features_finite():
    norm = RunningNorm(2, std_floor=0.05)
    norm.update(torch.zeros(10, 2))
    out = norm.normalise(torch.tensor([[1.0, 0.0]]))
    assert torch.allclose(out, torch.tensor([[20.0, 0.0]]))


def test_joint_encoding_layout_discrete_one_hot():
    enc = TransitionEncoder(2, spaces.Discrete(3))
    x = enc.raw(torch.tensor([[0.1, 0.2]]), torch.tensor([2]), torch.tensor([[0.3, 0.4]]))
    assert x.shape == (1, enc.dim) == (1, 7)
    assert torch.allclose(x, torch.tensor([[0.1, 0.2, 0, 0, 1, 0.3, 0.4]]))
    assert enc.predict_mask.tolist() == [True] * 5 + [False] * 2


def test_box_action_codec_round_trip():
    codec = ActionCodec(spaces.Box(low=np.array([-2.0, 0.0]), high=np.array([2.0, 1.0])))
    a = torch.tensor([[1.0, 0.25], [-2.0, 1.0]])
    code = codec.encode(a)
    assert torch.allclose(code, torch.tensor([[0.5, -0.5], [-1.0, 1.0]]))
    assert torch.allclose(codec.decode(code), a)


# ------------------------------------------------------------------ replay
def test_replay_ring_buffer_and_weights():
    buf = ReplayBuffer(5, 2)
    buf.add(torch.arange(12.0).reshape(6, 2), weights=torch.arange(6.0))
    assert len(buf) == 5 and buf.added == 6
    assert buf.recent(2).tolist() == [[8.0, 9.0], [10.0, 11.0]]
    g = torch.Generator().manual_seed(0)
    rows, w, idx = buf.sample(64, g)
    assert torch.allclose(rows[:, 0] / 2, w)  # weights travel with their rows
    assert int(rows[:, 0].min()) >= 2  # the oldest row was overwritten
    rows, _, _ = buf.sample_recent(32, 2, g)
    assert set(rows[:, 0].tolist()) <= {8.0, 10.0}
    state = buf.state_dict(max_rows=3)
    other = ReplayBuffer(5, 2)
    other.load_state_dict(state)
    assert other.recent(3).tolist() == buf.recent(3).tolist()


def test_fit_step_with_constant_weights_equals_the_unweighted_step():
    torch.manual_seed(0)
    a = RAE(4, sigma=0.0, lr=1e-2)
    b = RAE(4, sigma=0.0, lr=1e-2)
    b.load_state_dict(a.state_dict())
    x = torch.randn(32, 4)
    a.fit_step(x)
    b.fit_step(x, torch.full((32,), 3.0))
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6)


# ------------------------------------------------------------------ planner
def _toy_predict(values: torch.Tensor):
    """A 'world model' whose free energy is a fixed value per discrete action."""

    def predict(obs, codes):
        fe = codes @ values  # (B,)
        comp = torch.cat([obs, codes, obs], 1)[None, None]
        return StepPrediction(completions=comp, free_energy=fe[None, None], next_slice=slice(0, obs.shape[1]))

    return predict


@pytest.mark.parametrize("method", ["shooting", "cem"])
def test_planner_picks_the_lowest_cost_and_a_negated_cost_maximises(method):
    values = torch.tensor([0.5, 0.1, 0.9, 0.3])
    codec = ActionCodec(spaces.Discrete(4))
    g = torch.Generator().manual_seed(0)
    planner = Planner(codec=codec, horizon=3, candidates=128, method=method, repeat_prob=0.0, generator=g)
    obs = torch.zeros(5, 2)
    cost = lambda p, h: (p.free_energy.mean((0, 1)), p.free_energy.mean((0, 1)))  # noqa: E731
    a_min, info = planner.plan(obs, _toy_predict(values), cost)
    assert a_min.tolist() == [1] * 5
    assert torch.allclose(info["score"], torch.full((5,), 0.3))
    planner.reset()
    neg = lambda p, h: (-p.free_energy.mean((0, 1)), p.free_energy.mean((0, 1)))  # noqa: E731
    a_max, info = planner.plan(obs, _toy_predict(values), neg)
    assert a_max.tolist() == [2] * 5
    assert torch.allclose(info["score"], torch.full((5,), -2.7))


def test_cem_finds_the_optimum_of_a_continuous_toy_score():
    codec = ActionCodec(spaces.Box(-1.0, 1.0, (2,)))
    target = torch.tensor([0.3, -0.6])

    def predict(obs, codes):
        fe = (codes - target).pow(2).sum(-1)
        return StepPrediction(torch.cat([obs, codes, obs], 1)[None, None], fe[None, None], slice(0, 1))

    g = torch.Generator().manual_seed(0)
    planner = Planner(codec=codec, horizon=2, candidates=256, method="cem", cem_iters=6, elite_frac=0.1, generator=g)
    cost = lambda p, h: (p.free_energy[0, 0], p.free_energy[0, 0])  # noqa: E731
    a, _ = planner.plan(torch.zeros(3, 1), predict, cost)
    assert torch.allclose(a, target.expand(3, 2), atol=0.08)


def test_score_bias_hook_changes_the_choice():
    values = torch.tensor([0.5, 0.1, 0.9, 0.3])
    codec = ActionCodec(spaces.Discrete(4))
    planner = Planner(codec=codec, horizon=1, candidates=64, generator=torch.Generator().manual_seed(1))
    cost = lambda p, h: (p.free_energy.mean((0, 1)), p.free_energy.mean((0, 1)))  # noqa: E731
    bias = lambda r: 10.0 * r.codes[:, :, 0, 1]  # noqa: E731  (penalise action 1)
    a, _ = planner.plan(torch.zeros(2, 1), _toy_predict(values), cost, score_bias=bias)
    assert a.tolist() == [3, 3]


# ------------------------------------------------------------------ terms
def test_surprise_terms_split_total_into_epistemic_and_aleatoric():
    # Two members, one draw, batch of 2, D = 3 with next obs in the last entry.
    comp = torch.tensor([[[[0, 0, 1.0], [0, 0, 0.0]]], [[[0, 0, 3.0], [0, 0, 0.0]]]])  # (2, 1, 2, 3)
    fe = torch.tensor([[[2.0, 0.5]], [[2.0, 0.5]]])
    p = StepPrediction(comp, fe, slice(2, 3))
    assert torch.allclose(total_surprise(p), torch.tensor([2.0, 0.5]))
    assert torch.allclose(epistemic_surprise(p), torch.tensor([1.0, 0.0]))  # var of {1, 3}
    assert torch.allclose(aleatoric_surprise(p), torch.tensor([1.0, 0.5]))
    with pytest.raises(ValueError, match="ensemble"):
        epistemic_surprise(StepPrediction(comp[:1], fe[:1], slice(2, 3)))


# ------------------------------------------------------------------ agents
def _agent(cls_name: str = "afe", seed: int = 0):
    import envs
    from agents.adversarial import AdversarialFreeEnergyAgent
    from agents.free_energy import FreeEnergyAgent

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    env = envs.make("freeenergy/GridMaze-v0", 4, "cpu")
    enc = TransitionEncoder(env.obs_dim, env.single_action_space)
    world = OnlineWorldModel(encoder=enc, members=[RAE(enc.dim, hidden=[32])], replay_capacity=1000,
                             batch_size=32, generator=g)
    planner = Planner(codec=enc.actions, horizon=3, candidates=16, generator=g)
    cls = AdversarialFreeEnergyAgent if cls_name == "afe" else FreeEnergyAgent
    return env, cls(world=world, planner=planner, warmup_steps=2, generator=g)


def _rollout(seed: int, steps: int = 12):
    env, agent = _agent(seed=seed)
    obs = env.reset(seed=seed)
    acts, fes = [], []
    for _ in range(steps):
        a = agent.act(obs)
        obs2, _, term, trunc, info = env.step(a)
        fes.append(agent.observe(Step(obs, a, info["final_obs"], term | trunc, torch.zeros(4))))
        agent.update()
        acts.append(a)
        obs = obs2
    return torch.stack(acts), torch.stack(fes)


def test_planning_agent_is_seeded_and_reproducible_on_cpu():
    a1, f1 = _rollout(3)
    a2, f2 = _rollout(3)
    assert torch.equal(a1, a2) and torch.equal(f1, f2)
    a3, _ = _rollout(4)
    assert not torch.equal(a1, a3)


def test_agent_signs_and_state_round_trip():
    env, afe = _agent("afe")
    _, fe_agent = _agent("fe")
    assert afe.surprise_weight < 0 < fe_agent.surprise_weight
    assert isinstance(afe, PlanningAgent)
    obs = env.reset(seed=0)
    for _ in range(4):
        a = afe.act(obs)
        obs2, _, term, trunc, info = env.step(a)
        afe.observe(Step(obs, a, info["final_obs"], term | trunc, torch.zeros(4)))
        afe.update()
        obs = obs2
    state = afe.state_dict()
    _, other = _agent("afe", seed=1)
    other.load_state_dict(state)
    for p, q in zip(afe.world.model.parameters(), other.world.model.parameters()):
        assert torch.equal(p, q)
    assert other.steps == afe.steps and len(other.world.replay) == len(afe.world.replay)


def test_epistemic_needs_an_ensemble_or_draws():
    env, agent = _agent()
    with pytest.raises(ValueError, match="ensemble"):
        type(agent)(world=agent.world, planner=agent.planner, surprise="epistemic")


def test_visitation_coverage_over_reachable_cells():
    vis = Visitation((3, 2), num_envs=2, reachable=torch.tensor([0, 1, 2, 4]))
    vis.add(torch.tensor([0, 5]))
    vis.add(torch.tensor([1, 1]))
    assert vis.unique_cells == 3
    assert vis.coverage == pytest.approx(2 / 4)
    assert vis.mean_env_coverage == pytest.approx((2 / 4 + 1 / 4) / 2)
    assert vis.heatmap().shape == (2, 3) and int(vis.heatmap().sum()) == 4
