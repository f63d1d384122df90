"""The surprise bonus: transform, SB3 VecEnvWrapper, gymnasium Wrapper, SB3 algorithms."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.vec_env import DummyVecEnv

import envs
from agents.baselines import CountSurprise, RNDSurprise
from agents.bonus import (BonusLoggingCallback, BonusTransform, SurpriseBonusVecEnv, SurpriseBonusWrapper,
                          WorldModelSurprise)
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
    transform = BonusTransform(WorldModelSurprise(world, fit_ratio=0), int_coef=0.7, ext_coef=0.5)
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
    wrapped = SurpriseBonusVecEnv(venv, BonusTransform(WorldModelSurprise(world, fit_ratio=1), 2.0, 0.0,
                                                       objective=Objective.MINIMISE))
    wrapped.reset()
    _, rew, _, infos = wrapped.step(np.array([0, 2]))
    np.testing.assert_allclose(rew, [-2.0 * i["intrinsic_surprise"] for i in infos], rtol=1e-5)
    assert world.fit_steps == 1 and len(world.replay) == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, world.model.parameters()))
    assert "bonus/surprise" in wrapped.pop_stats()


def test_gym_wrapper_matches_the_transform():
    env = gym.make("MountainCar-v0")
    world = _world(2, env.action_space)
    wrapped = SurpriseBonusWrapper(env, BonusTransform(WorldModelSurprise(world, fit_ratio=0), 3.0, 1.0))
    obs, _ = wrapped.reset(seed=0)
    nxt, r, *_ , info = wrapped.step(1)
    x = world.encoder.encode(torch.as_tensor(obs)[None], torch.tensor([1]), torch.as_tensor(nxt)[None])
    assert r == pytest.approx(3.0 * float(world.model.free_energy(x)[0]) - 1.0, rel=1e-5)
    assert info["extrinsic_reward"] == -1.0


def test_count_bonus_is_inverse_sqrt_of_exact_counts():
    env = envs.make("freeenergy/FourRooms-v0", 2, "cpu")
    src = CountSurprise(env.map_cells, env.num_cells)
    xy = torch.tensor([[1.5, 1.5], [1.5, 1.5]])
    s1 = src.surprise(None, None, None, xy)
    s2 = src.surprise(None, None, None, xy[:1])
    assert torch.allclose(s1, torch.full((2,), 2 ** -0.5)) and torch.allclose(s2, torch.tensor([3 ** -0.5]))
    with pytest.raises(ValueError, match="map_xy"):
        src.surprise(None, None, None, None)


def test_rnd_error_falls_on_seen_observations():
    torch.manual_seed(0)
    rnd = RNDSurprise(2, fit_ratio=1, batch_size=64, lr=3e-3)
    seen = torch.rand(64, 2) * 0.2
    first = rnd.surprise(None, None, seen).mean()
    for _ in range(150):
        rnd.surprise(None, None, seen)
        rnd.learn()
    assert rnd.surprise(None, None, seen).mean() < 0.2 * first


@pytest.mark.parametrize("algo", [PPO, DQN])
def test_sb3_algorithms_run_unchanged_with_the_bonus_wrapper(algo):
    env = envs.make("freeenergy/FourRooms-v0", 4, "cpu")
    world = _world(env.obs_dim, env.single_action_space, sigma=0.1)
    venv = SurpriseBonusVecEnv(BatchedVecEnv(env, seed=0), BonusTransform(WorldModelSurprise(world), 1.0))
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
