"""The surprise bonus: transform, SB3 VecEnvWrapper, gymnasium Wrapper, SB3 algorithms."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.vec_env import DummyVecEnv

import envs
from agents.bonus import BonusLoggingCallback, BonusTransform, SurpriseBonusVecEnv, SurpriseBonusWrapper
from agents.intrinsic import RNDOptions
from agents.intrinsic.base import Transitions
from agents.intrinsic.counts import CountBonus
from agents.intrinsic.rnd import RND
from agents.intrinsic.surprise import WorldModelSurprise
from agents.encoding import TransitionEncoder
from agents.objective import Objective
from agents.online import OnlineWorldModel
from agents.sb3_env import BatchedVecEnv
from freeenergy.rae import RAE



def _world(obs_dim: int, action_space, sigma: float = 0.0, seed: int = 0) -> OnlineWorldModel:
    torch.manual_seed(seed)
    enc = TransitionEncoder(obs_dim, action_space)
    return OnlineWorldModel(encoder=enc, members=[RAE(enc.dim, hidden=[32], sigma=sigma)], replay_capacity=5000,
                            batch_size=32, generator=torch.Generator().manual_seed(seed))


def test_vec_wrapper_reward_equals_free_energy_times_coefficient():
    venv = DummyVecEnv([lambda: gym.make("MountainCar-v0") for _ in range(3)])
    venv.seed(0)
    world = _world(2, venv.action_space)
    transform = BonusTransform(WorldModelSurprise(world=world), int_coef=0.7, ext_coef=0.5, fit_ratio=0)
    wrapped = SurpriseBonusVecEnv(venv, transform)
    obs = wrapped.reset()
    for _ in range(5):
        a = np.array([0, 1, 2])
        nxt, rew, done, infos = wrapped.step(a)
        x = world.encoder.encode(torch.as_tensor(obs), torch.as_tensor(a), torch.as_tensor(nxt))
        fe = world.model.free_energy(x).numpy()
        np.testing.assert_allclose(rew, 0.7 * fe + 0.5 * -1.0, rtol=1e-5, atol=1e-6)
        assert [i["extrinsic_reward"] for i in infos] == [-1.0] * 3
        np.testing.assert_allclose([i["intrinsic_surprise"] for i in infos], fe, rtol=1e-5)
        obs = nxt


def test_minimiser_sign_and_online_learning_changes_the_model():
    venv = DummyVecEnv([lambda: gym.make("MountainCar-v0") for _ in range(2)])
    world = _world(2, venv.action_space)
    before = [p.clone() for p in world.model.parameters()]
    wrapped = SurpriseBonusVecEnv(venv, BonusTransform(WorldModelSurprise(world=world), 2.0, 0.0,
                                                       objective=Objective.MINIMISE, fit_ratio=1))
    wrapped.reset()
    _, rew, _, infos = wrapped.step(np.array([0, 2]))
    np.testing.assert_allclose(rew, [-2.0 * i["intrinsic_surprise"] for i in infos], rtol=1e-5)
    assert world.fit_steps == 1 and len(world.replay) == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, world.model.parameters()))
    assert "bonus/surprise" in wrapped.pop_stats()


def test_gym_wrapper_matches_the_transform():
    env = gym.make("MountainCar-v0")
    world = _world(2, env.action_space)
    wrapped = SurpriseBonusWrapper(env, BonusTransform(WorldModelSurprise(world=world), 3.0, 1.0, fit_ratio=0))
    obs, _ = wrapped.reset(seed=0)
    nxt, r, *_ , info = wrapped.step(1)
    x = world.encoder.encode(torch.as_tensor(obs)[None], torch.tensor([1]), torch.as_tensor(nxt)[None])
    assert r == pytest.approx(3.0 * float(world.model.free_energy(x)[0]) - 1.0, rel=1e-5)
    assert info["extrinsic_reward"] == -1.0


def test_count_bonus_is_inverse_sqrt_of_exact_counts():
    env = envs.make("freeenergy/FourRooms-v0", 2, "cpu")
    src = CountBonus(map_cells=env.map_cells, num_cells=env.num_cells, device=torch.device("cpu"))
    xy = torch.tensor([[1.5, 1.5], [1.5, 1.5]])
    z = torch.zeros(2, 1)
    s1 = src.score(Transitions(z, z, z, xy))
    s2 = src.score(Transitions(z[:1], z[:1], z[:1], xy[:1]))
    assert torch.allclose(s1, torch.full((2,), 2 ** -0.5)) and torch.allclose(s2, torch.tensor([3 ** -0.5]))
    # A rollout of 2 steps x 2 copies is counted in step order: the second step sees the first's visits.
    far = torch.tensor([[3.5, 1.5], [3.5, 1.5], [3.5, 1.5], [1.5, 3.5]])
    z4 = torch.zeros(4, 1)
    s3 = src.score(Transitions(z4, z4, z4, far, num_envs=2))
    assert torch.allclose(s3, torch.tensor([2 ** -0.5, 2 ** -0.5, 3 ** -0.5, 1.0]))
    with pytest.raises(ValueError, match="map_xy"):
        src.score(Transitions(z, z, z, None))


def test_rnd_error_falls_on_seen_observations_and_not_on_unseen_ones():
    torch.manual_seed(0)
    rnd = RND(obs_dim=2, options=RNDOptions(lr=3e-3, fraction=1.0), device=torch.device("cpu"))
    assert rnd.predictor_depth_layers() > rnd.target_depth_layers()  # deeper predictor, as published
    seen, unseen = torch.rand(64, 2) * 0.2, torch.rand(64, 2) * 0.2 + 3.0
    rnd.warm(Transitions(seen, seen, torch.cat([seen, unseen])))  # observation statistics over both regions
    batch = Transitions(seen, seen, seen)
    first = rnd.score(batch).mean()
    for _ in range(150):
        rnd.score(batch)
        rnd.learn(1)
    assert rnd.score(batch).mean() < 0.2 * first
    assert rnd.score(Transitions(unseen, unseen, unseen)).mean() > 3 * rnd.score(batch).mean()


@pytest.mark.parametrize("algo", [PPO, DQN])
def test_sb3_algorithms_run_unchanged_with_the_bonus_wrapper(algo):
    env = envs.make("freeenergy/FourRooms-v0", 4, "cpu")
    world = _world(env.obs_dim, env.single_action_space, sigma=0.1)
    venv = SurpriseBonusVecEnv(BatchedVecEnv(env, seed=0), BonusTransform(WorldModelSurprise(world=world), 1.0))
    kw = {"n_steps": 32, "batch_size": 32, "n_epochs": 1} if algo is PPO else {"learning_starts": 50,
                                                                              "buffer_size": 1000}
    model = algo("MlpPolicy", venv, seed=0, device="cpu", **kw)
    cb = BonusLoggingCallback(interval=20)
    model.learn(total_timesteps=400, callback=cb)
    assert world.fit_steps >= 100  # one world-model step per vec step
    assert cb.history and all(np.isfinite(h["bonus/surprise"]) for h in cb.history)


def test_batched_vecenv_reports_terminal_observations():
    env = envs.make("freeenergy/GridMaze-v0", 2, "cpu", max_steps=3)
    venv = BatchedVecEnv(env, seed=0)
    venv.reset()
    for t in range(3):
        obs, rew, done, infos = venv.step(np.array([1, 1]))
    assert done.all() and all("terminal_observation" in i and i["TimeLimit.truncated"] for i in infos)
    assert obs.shape == (2, env.obs_dim) and rew.dtype == np.float32
