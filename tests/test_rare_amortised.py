"""Rare-state biasing with the amortised agent: the reward bias, restarts, replay weights, presets, bad input."""
from __future__ import annotations

import pytest
import torch

from agents.amortised import AmortisedAgent
from agents.intrinsic.base import NoBonus
from agents.objective import Objective
from agents.ppo import PPOLearner, PPOSettings
from agents.protocol import Step
from agents.rare_state import RareStateBias
from experiments.config import Config, ConfigError, build

N, T = 4, 2


class FixedSource(NoBonus):
    """A rollout source whose surprise and free energy are given ``(T, N)``."""

    def __init__(self, surprise: torch.Tensor, fe: torch.Tensor) -> None:
        self.s, self.fe = surprise.reshape(-1), fe.reshape(-1)
        self.free_energy: torch.Tensor | None = None

    def score(self, r):
        self.free_energy = self.fe
        return self.s


class Recorder:
    """Stands in for the return normaliser: records the raw intrinsic reward, returns it unchanged."""

    std = 1.0

    def __init__(self) -> None:
        self.seen: list[torch.Tensor] = []

    def __call__(self, rewards):
        self.seen.append(rewards.clone())
        return rewards


def tiny_agent(source, maximise: bool = True, context: torch.Tensor | None = None) -> AmortisedAgent:
    dev = torch.device("cpu")
    width = 2 + (0 if context is None else context.shape[1])
    learner = PPOLearner(obs_dim=width, num_actions=2, settings=PPOSettings(rollout=T, hidden=8, minibatches=1),
                         ext_coef=2.0, int_coef=1.0, device=dev, generator=torch.Generator().manual_seed(0))
    return AmortisedAgent(learner=learner, source=source, obs_dim=2, num_actions=2, num_envs=N,
                          objective=Objective.MAXIMISE if maximise else Objective.MINIMISE,
                          warmup_steps=0, context=context, device=dev, generator=torch.Generator().manual_seed(1))


def centred_bias() -> RareStateBias:
    """Two windows of two copies, centres 0 and 1, kappa 1, weight 2 (so weight * kappa / 2 = 1)."""
    rb = RareStateBias(num_envs=N, windows=2, weight=2.0, fe_quantiles=(0.0, 1.0), refresh=200)
    rb._fe = torch.linspace(0.0, 1.0, 101)  # recent real free energies: the centres span their quantiles
    rb._win = torch.zeros(101, dtype=torch.long)
    rb._recentre()
    return rb


def step(agent: AmortisedAgent, n_steps: int = T, done: torch.Tensor | None = None) -> None:
    for _ in range(n_steps):
        obs = torch.rand(N, 2)
        a = agent.act(obs)
        agent.observe(Step(obs, a, torch.rand(N, 2), torch.zeros(N, dtype=torch.bool) if done is None else done,
                           torch.zeros(N)))


@pytest.mark.parametrize("maximise", [True, False])
def test_reward_bias_enters_the_intrinsic_reward_by_window(maximise):
    fe = torch.tensor([[0.0, 1.0, 0.0, 1.0], [0.5, 0.5, 2.0, 0.0]])  # (T, N); copies 0, 1: window 0; 2, 3: window 1
    rb = centred_bias()
    assert rb.window_n.tolist() == [0, 0, 1, 1]
    torch.testing.assert_close(rb.centres, torch.tensor([0.0, 1.0]))
    assert rb.kappa == pytest.approx(1.0)
    agent = tiny_agent(FixedSource(fe, fe), maximise, RareStateBias.window_context(N, 2))
    rb.attach(agent)  # no set_score_bias: the reward hook
    assert agent.reward_bias == rb.reward_bias
    agent.returns = rec = Recorder()
    step(agent)
    metrics = agent.update()
    # By hand: weight * kappa/2 * (F - F_k)^2 with F_k = 0 for copies 0, 1 and 1 for copies 2, 3.
    penalty = torch.tensor([[0.0, 1.0, 1.0, 0.0], [0.25, 0.25, 1.0, 1.0]])
    sign = 1.0 if maximise else -1.0
    torch.testing.assert_close(rec.seen[0], sign * fe - penalty)
    assert metrics["bonus/window_penalty"] == pytest.approx(float(penalty.mean()))
    # The policy input carries each copy's window.
    assert agent.buf.obs.shape[-1] == 4
    torch.testing.assert_close(agent.buf.obs[0, :, 2:], torch.tensor([[1.0, 0], [1, 0], [0, 1], [0, 1]]))


def test_no_penalty_before_the_windows_are_placed():
    fe = torch.rand(T, N)
    rb = RareStateBias(num_envs=N, windows=2)
    agent = tiny_agent(FixedSource(fe, fe))
    rb.attach(agent)
    agent.returns = rec = Recorder()
    step(agent)
    agent.update()
    torch.testing.assert_close(rec.seen[0], fe)


def test_attach_refuses_an_agent_without_a_hook():
    with pytest.raises(ValueError, match="neither set_score_bias nor set_reward_bias"):
        RareStateBias(num_envs=N, windows=2).attach(object())


def test_restart_ends_the_extrinsic_episode_only():
    fe = torch.rand(T, N)
    agent = tiny_agent(FixedSource(fe, fe))
    agent.restarted(torch.ones(N, dtype=torch.bool))  # before any rollout step: nothing to mark
    assert not agent.buf.dones.any()
    step(agent, 1)
    mask = torch.tensor([True, False, False, True])
    nxt = torch.rand(N, 2)
    step(agent, 1)
    _, ret0, aint0 = agent.learner.advantages(agent.buf, torch.ones(T, N), nxt)
    agent.restarted(mask)  # after the rollout's last step, before its update
    assert agent.buf.dones[T - 1].tolist() == mask.tolist() and not agent.buf.dones[0].any()
    _, ret1, aint1 = agent.learner.advantages(agent.buf, torch.ones(T, N), nxt)
    torch.testing.assert_close(aint1, aint0)  # intrinsic returns are non-episodic: untouched
    torch.testing.assert_close(ret1[..., 1], ret0[..., 1])
    assert (ret1[T - 1, :, 0] != ret0[T - 1, :, 0]).tolist() == mask.tolist()  # extrinsic bootstrap cut


class StateEnv:
    """Copies whose state before step ``t`` is ``10 t + n``; ``set_state`` is recorded."""

    num_envs, device = N, torch.device("cpu")

    def __init__(self) -> None:
        self.t, self.set_calls = 0, []

    def get_state(self):
        return (10 * self.t + torch.arange(N))[:, None].float()

    def set_state(self, idx, states):
        self.set_calls.append((idx.clone(), states.clone()))
        return torch.full((N, 2), -1.0)


class MaskAgent:
    def __init__(self) -> None:
        self.masks, self.weights = [], []

    def restarted(self, mask):
        self.masks.append(mask.clone())

    def weight_last_transitions(self, w):
        self.weights.append(w.clone())


def test_free_energies_of_a_rollout_pair_with_the_states_their_steps_started_from():
    rb = RareStateBias(num_envs=N, windows=2, refresh=3, reset_fraction=0.5,
                       generator=torch.Generator().manual_seed(0))
    env, agent, obs = StateEnv(), MaskAgent(), torch.zeros(N, 2)
    for t in range(3):  # the free energies of steps 0 and 1 arrive together after step 1 (T = 2)
        rb.before_step(env)
        env.t += 1
        fe = (10 * torch.arange(2)[:, None] + torch.arange(N)).float().reshape(-1) if t == 1 else None
        obs = rb.after_step(env, agent, fe, obs, t + 1)
    torch.testing.assert_close(rb._states[:, 0], rb._fe)  # each F next to its own state
    assert rb._win.tolist() == [0, 0, 1, 1] * 2
    assert len(env.set_calls) == 1  # refresh at step 3: restarts at the top decile of F (state 13)
    idx, states = env.set_calls[0]
    assert idx.numel() == 2 and (states == 13).all()
    assert agent.masks[0].sum() == 2 and (obs[agent.masks[0]] == -1).all() and (obs[~agent.masks[0]] == 0).all()
    # Once windows exist, a rollout's 2 x 4 transitions get importance weights in one call.
    rb.before_step(env)
    rb.before_step(env)
    rb.after_step(env, agent, torch.rand(2 * N), obs, 4)
    assert agent.weights[-1].shape == (2 * N,)


def test_importance_weights_stay_finite_far_outside_every_window():
    # Windows on the lower half of the free energies met, and one copy far above them: its raw
    # MBAR weight (exp of thousands) is beyond any float, in the pool and in a new row alike.
    rb = RareStateBias(num_envs=N, windows=2, refresh=2, fe_quantiles=(0.0, 0.5), max_weight=10.0)
    env, agent, obs = StateEnv(), MaskAgent(), torch.zeros(N, 2)
    for t in range(2):
        rb.before_step(env)
        obs = rb.after_step(env, agent, torch.tensor([0.50, 0.51, 0.52, 40.0]), obs, t + 1)
    assert rb.kappa > 1e3  # windows 0.01 apart
    rb.before_step(env)
    rb.after_step(env, agent, torch.tensor([0.5, 0.51, 5.0, 40.0]), obs, 3)
    w = agent.weights[-1]
    assert torch.isfinite(w).all() and w.min() >= 0.1 - 1e-6 and w.max() <= 10.0 + 1e-5
    # The far rows (a quarter of the pool) carry all of the pool's weight: normalised to mean 1,
    # each weighs 4; rows inside the windows weigh next to nothing and are clipped to 1/10.
    assert w[3] == pytest.approx(4.0, rel=1e-3) and torch.allclose(w[:2], torch.tensor(0.1))


def test_amortised_agent_weights_its_rollout_replay_rows():
    from experiments.kinds.agent import make_agent, make_env

    cfg = build(Config, {"env": {"id": "freeenergy/LargeMaze-v0", "num_envs": N}, "umbrella": {"windows": 2},
                         "agent": {"type": "amortised", "intrinsic": {"name": "afe"}, "warmup_steps": 1,
                                   "ppo": {"rollout": T}},
                         "world_model": {"hidden": 16, "code_dim": 4}})
    dev = torch.device("cpu")
    env = make_env(cfg, dev)
    agent = make_agent(cfg, env, dev, torch.Generator().manual_seed(0))
    assert agent.learner.net.features.out_dim == env.obs_dim + 2  # the window one-hot
    obs = env.reset(seed=100)
    fe = None
    for _ in range(1 + T):
        a = agent.act(obs)
        nxt, rew, term, trunc, info = env.step(a)
        fe = agent.observe(Step(obs, a, info["final_obs"], term | trunc, rew))
        obs = nxt
    assert fe is not None and fe.shape == (T * N,)
    w = torch.arange(1.0, T * N + 1)
    agent.weight_last_transitions(w)
    replay = agent.world.replay
    torch.testing.assert_close(replay.weights[len(replay) - T * N:len(replay)], w)
    with pytest.raises(ValueError, match="importance weights"):
        agent.weight_last_transitions(torch.ones(N))


@pytest.mark.parametrize("preset", ["maze-large-umbrella-afe", "deepsea-umbrella-afe"])
def test_umbrella_preset_runs_end_to_end_at_debug_size(tmp_path, preset):
    from experiments.config.presets import resolve
    from experiments.runner import run_experiment

    cfg = resolve(preset, ["logging.wandb=disabled", "umbrella.refresh=8", "run.steps=40"], debug=True)
    summary, _ = run_experiment(cfg, out=tmp_path / "run", quiet=True)
    for key in ("rare_visits", "rare_visit_share", "rare_cells", "random_rare_visits", "coverage",
                "umbrella_restarts", "umbrella_weight_ess_fraction", "umbrella_centres", "umbrella_mean_weight"):
        assert key in summary, key
    assert summary["umbrella_restarts"] > 0  # copies were put back at rare states through set_state
    assert summary["umbrella_mean_weight"] > 0  # rollout rows were weighted
    assert 0 < summary["umbrella_weight_ess_fraction"] <= 1
    assert len(summary["umbrella_centres"]) == 2


@pytest.mark.parametrize("agent", [{"type": "amortised", "intrinsic": {"name": "rnd"}},
                                   {"type": "amortised", "intrinsic": {"name": "none"}}, {"type": "random"},
                                   {"type": "ppo"}])
def test_umbrella_with_an_agent_that_cannot_take_it_is_one_line(agent):
    with pytest.raises(ConfigError) as err:
        build(Config, {"umbrella": {"windows": 2}, "agent": agent})
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("umbrella.windows=2 is invalid")
    assert f"agent.type={agent['type']!r}" in msg and "amortised with agent.intrinsic.name afe or fe" in msg
    build(Config, {"umbrella": {"windows": 2}, "agent": {"type": "amortised", "intrinsic": {"name": "fe"}}})
    build(Config, {"umbrella": {"windows": 2}, "run": {"kind": "umbrella"}, "agent": agent})  # not an agent run
