"""Any Gymnasium env plugged in: make(), the adapter, space flattening, clear errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector.utils import batch_space, iterate

import envs
from envs.flatten import flatten_batch, unflatten_batch
from envs.gym_adapter import GymAdapter


class DictWorld(gym.Env):
    """A test-only env with composite spaces: a counter walking on a line."""

    def __init__(self, length: int = 5) -> None:
        self.length = length
        self.observation_space = spaces.Dict(
            {
                "pos": spaces.Box(-1.0, 1.0, (2,), np.float32),
                "mode": spaces.Discrete(3, start=1),
                "bits": spaces.MultiBinary(2),
                "grid": spaces.MultiDiscrete([2, 3]),
            }
        )
        self.action_space = spaces.Tuple((spaces.Discrete(2), spaces.Box(-1.0, 1.0, (1,), np.float32)))
        self._x = 0
        self._t = 0

    def _obs(self):
        p = np.array([self._x / 10.0, -self._x / 10.0], np.float32)
        return {"pos": p, "mode": 1 + self._t % 3, "bits": np.array([1, 0], np.int8), "grid": np.array([1, 2])}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._x = int(self.np_random.integers(0, 3))
        self._t = 0
        return self._obs(), {}

    def step(self, action):
        direction, push = action
        self._x += 1 if direction == 1 else -1
        self._t += 1
        terminated = abs(self._x) >= 10
        return self._obs(), float(push[0]), terminated, self._t >= self.length, {}


class TextWorld(gym.Env):
    observation_space = spaces.Text(8)
    action_space = spaces.Discrete(2)


def half_xy(obs: np.ndarray) -> np.ndarray:
    """A map_xy function for the tests: (N, D) -> (N, 2)."""
    return obs[:, :2] * 0.5


COMPOSITE = spaces.Dict(
    {
        "a": spaces.Box(-2.0, 2.0, (2, 3), np.float32),
        "b": spaces.Discrete(4, start=-1),
        "c": spaces.Tuple((spaces.MultiDiscrete([[2, 3], [4, 5]]), spaces.MultiBinary(3))),
    }
)


def test_flatten_round_trip_matches_gymnasium():
    n = 7
    vspace = batch_space(COMPOSITE, n)
    vspace.seed(0)
    batch = vspace.sample()
    flat = flatten_batch(COMPOSITE, batch)
    ref = np.stack([spaces.flatten(COMPOSITE, x) for x in iterate(vspace, batch)])
    assert flat.shape == (n, spaces.flatdim(COMPOSITE)) and flat.dtype == np.float32
    np.testing.assert_array_equal(flat, ref.astype(np.float32))
    back = unflatten_batch(COMPOSITE, flat)
    for x, y in zip(iterate(vspace, back), iterate(vspace, batch)):
        np.testing.assert_array_equal(spaces.flatten(COMPOSITE, x), spaces.flatten(COMPOSITE, y))


def test_mountaincar_through_make():
    env = envs.make("MountainCar-v0", num_envs=3)
    assert isinstance(env, GymAdapter) and env.obs_dim == 2 and env.num_actions == 3
    obs = env.reset(seed=0)
    assert obs.dtype == torch.float32 and obs.shape == (3, 2)
    assert torch.equal(env.last_info["map_xy"], obs)  # default: observation entries [0, 1]
    (x0, x1), (y0, y1) = env.map_bounds
    assert x0 == pytest.approx(-1.2) and y1 == pytest.approx(0.07)
    for t in range(200):
        obs, reward, term, trunc, info = env.step(torch.randint(0, 3, (3,)))
    assert trunc.all() and (reward == -1).all()  # TimeLimit of 200 steps
    assert not torch.equal(info["final_obs"], obs)  # same-step autoreset: final obs kept apart
    assert torch.equal(info["map_xy"], obs) and torch.equal(info["final_map_xy"], info["final_obs"])
    env.close()


def test_entry_point_env_with_composite_spaces():
    env = envs.make(f"{__name__}:DictWorld", num_envs=2, length=4, map_xy=[0, 1])
    assert env.obs_dim == spaces.flatdim(DictWorld().observation_space) == 2 + 3 + 2 + 5
    assert isinstance(env.single_action_space, spaces.Box) and env.action_dim == 3
    obs = env.reset(seed=3)
    ref = np.stack([spaces.flatten(env.original_observation_space, DictWorld().reset(seed=3 + i)[0]) for i in range(2)])
    np.testing.assert_array_equal(obs.numpy(), ref)
    # Flattened Tuple action: one-hot scores for the Discrete part, then the Box part.
    action = torch.tensor([[0.1, 0.9, 0.25], [0.8, 0.2, -0.5]])
    obs, reward, term, trunc, info = env.step(action)
    assert reward.tolist() == [0.25, -0.5]
    space = env.original_observation_space
    pos = [spaces.unflatten(space, o)["pos"][0] for o in (obs[0].numpy(), obs[1].numpy())]
    pos0 = [spaces.unflatten(space, r)["pos"][0] for r in ref]
    assert pos[0] > pos0[0] and pos[1] < pos0[1]  # moved right / left
    for _ in range(3):
        obs, reward, term, trunc, info = env.step(action)
    assert trunc.all() and not torch.equal(info["final_obs"], obs)
    env.close()


def test_map_xy_function_and_async():
    env = envs.make("CartPole-v1", num_envs=2, map_xy=f"{__name__}:half_xy", vectorization="async")
    obs = env.reset(seed=0)
    torch.testing.assert_close(env.last_info["map_xy"], obs[:, :2] * 0.5)
    obs, *_ , info = env.step(torch.tensor([0, 1]))
    torch.testing.assert_close(info["map_xy"], obs[:, :2] * 0.5)
    env.close()


def test_project_env_through_gymnasium_backend_keeps_map_xy():
    env = envs.make("DarkRoom-v0", num_envs=2, backend="gymnasium")
    twin = envs.make("DarkRoom-v0", num_envs=2)
    torch.testing.assert_close(env.reset(seed=4), twin.reset(seed=4))
    a = torch.tensor([5, 1])
    o1, *_, i1 = env.step(a)
    o2, *_, i2 = twin.step(a)
    torch.testing.assert_close(o1, o2)
    torch.testing.assert_close(i1["map_xy"], i2["map_xy"])
    assert env.map_bounds == twin.map_bounds and env.grid_shape == twin.grid_shape
    torch.testing.assert_close(env.reachable_cells, twin.reachable_cells)
    env.close()


def test_batched_env_entry_point_is_built_directly():
    env = envs.make("envs.gridmaze:GridMazeTwin", num_envs=5, layout="multiroom")
    assert isinstance(env, envs.BatchedEnv) and env.num_envs == 5 and env.grid_shape == (25, 25)


def test_clear_errors():
    with pytest.raises(envs.EnvNotFound, match=r"MountainCar-v0"):
        envs.make("MountainCar-v9")
    with pytest.raises(envs.EntryPointError, match="no_such_package"):
        envs.make("no_such_package.mod:Env")
    with pytest.raises(ImportError, match="did you mean"):
        envs.make("envs.gridmaze:GridMase")
    with pytest.raises(envs.UnsupportedSpaceError, match="Text"):
        envs.make(f"{__name__}:TextWorld")
    with pytest.raises(ValueError, match="map_xy"):
        envs.make("CartPole-v1", map_xy=[0, 9])
    with pytest.raises(ValueError, match="vectorization"):
        envs.make("CartPole-v1", vectorization="threads")


def test_success_follows_is_success_or_the_users_word_not_termination():
    """CartPole's fallen pole is no success: a plugged-in env reports success only through its own
    info["is_success"] or when the user says termination is the goal (MountainCar's flag)."""
    from experiments.tracker import Tracker

    cart = envs.make("CartPole-v1", num_envs=4)
    flag = envs.make("CartPole-v1", num_envs=4, terminal_is_success=True)
    for env in (cart, flag):
        tracker = Tracker(env, steps=60)
        env.reset(seed=0)
        tracker.start(env.last_info)
        for t in range(60):  # a random CartPole episode ends within 60 steps in every copy
            _, r, term, _, info = env.step(env.sample_actions())
            tracker.step(t, r, term, info, None)
        env.close()
        summary = tracker.summary()  # no reachable set: coverage says it counts every map cell
        assert summary["coverage_of"].startswith("all ") and summary["coverage_cells"] == env.grid_shape[0] * \
            env.grid_shape[1]
        if env is cart:
            assert summary["success_rate"] is None
        else:
            assert tracker.summary()["success_rate"] == 1.0
