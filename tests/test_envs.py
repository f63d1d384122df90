"""The project's environments: Gymnasium conformance, twin parity, set_state, autoreset."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import envs
from envs.registry import registered_ids

# (id, kwargs, exact?, atol) for the parity runs; small episodes so autoresets happen.
PARITY_CASES = [
    ("freeenergy/GridMaze-v0", {"max_steps": 40}, True, 0.0),
    ("freeenergy/GridMaze-v0", {"max_steps": 30, "random_start": True, "local_view": True, "stay_action": True}, True, 0.0),
    ("freeenergy/MultiRoom-v0", {"max_steps": 50, "random_start": True}, True, 0.0),
    ("freeenergy/GridMaze-v0", {"layout": "#####\n#S.G#\n#...#\n#####", "max_steps": 20}, True, 0.0),
    ("freeenergy/DarkRoom-v0", {"max_steps": 40}, True, 0.0),
    ("freeenergy/DarkRoom-v0", {"max_steps": 40, "switch_cell": (2, 2), "num_objects": 3, "num_lamps": 1}, True, 0.0),
    ("freeenergy/NoisyTV-v0", {"max_steps": 40, "layout": "#####\n#S.T#\n#...#\n#####"}, True, 0.0),
    ("freeenergy/PointMaze-v0", {"max_steps": 60, "noise_std": 0.3, "random_start": True}, False, 1e-4),
    ("freeenergy/MullerBrown-v0", {"max_steps": 60, "dtype": torch.float64}, False, 1e-9),
    ("freeenergy/MullerBrown-v0", {"max_steps": 60, "start": "uniform"}, False, 2e-4),
    ("freeenergy/LargeMaze-v0", {"size": 15, "rooms": 2, "room_size": 2, "max_steps": 40, "random_start": True}, True, 0.0),
    ("freeenergy/DeepSea-v0", {"size": 6}, True, 0.0),
    ("freeenergy/DeepSea-v0", {"size": 5, "observation": "position", "mapping_seed": 3}, True, 0.0),
    ("freeenergy/CartPole-v1", {"max_steps": 30}, False, 1e-6),
]
SINGLE_ONLY = {"dtype"}


def _single(env_id: str, kwargs: dict) -> gym.Env:
    return gym.make(env_id, **{k: v for k, v in kwargs.items() if k not in SINGLE_ONLY}).unwrapped


def _actions(space: gym.Space, n: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(space.n, size=n)
    scale = np.minimum(space.high, 100.0)
    return (rng.uniform(-1, 1, size=(n, *space.shape)) * scale).astype(np.float32)


def _close(a, b, exact: bool, atol: float) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.array_equal(a, b) if exact else np.allclose(a, b, atol=atol, rtol=0)


@pytest.mark.parametrize("env_id", registered_ids())
def test_check_env_every_registered_env(env_id):
    env = gym.make(env_id).unwrapped
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert info["map_xy"].shape == (2,)
    (x0, x1), (y0, y1) = env.map_bounds
    assert x0 <= info["map_xy"][0] <= x1 and y0 <= info["map_xy"][1] <= y1


@pytest.mark.parametrize("env_id,kwargs,exact,atol", PARITY_CASES)
def test_twin_matches_single_env(env_id, kwargs, exact, atol):
    n, steps, seed = 4, 120, 11
    twin = envs.make(env_id, num_envs=n, **kwargs)
    singles = [_single(env_id, kwargs) for _ in range(n)]
    obs = twin.reset(seed=seed)
    resets = [s.reset(seed=seed + i) for i, s in enumerate(singles)]
    assert _close(obs, np.stack([o for o, _ in resets]), exact, atol)
    assert _close(twin.last_info["map_xy"], np.stack([i["map_xy"] for _, i in resets]), exact, atol)
    rng = np.random.default_rng(0)
    n_done = 0
    for t in range(steps):
        a = _actions(twin.single_action_space, n, rng)
        obs, reward, term, trunc, info = twin.step(torch.as_tensor(a))
        outs = [s.step(a[i]) for i, s in enumerate(singles)]
        assert _close(info["final_obs"], np.stack([o[0] for o in outs]), exact, atol), t
        assert _close(info["final_map_xy"], np.stack([o[4]["map_xy"] for o in outs]), exact, atol), t
        assert np.array_equal(reward.numpy(), np.array([o[1] for o in outs], np.float32))
        assert term.tolist() == [o[2] for o in outs] and trunc.tolist() == [o[3] for o in outs], t
        restarted = []
        for i, (s, o) in enumerate(zip(singles, outs)):
            if o[2] or o[3]:
                n_done += 1
                restarted.append(s.reset())
            else:
                restarted.append((o[0], o[4]))
        assert _close(obs, np.stack([r[0] for r in restarted]), exact, atol), t
        for key in ("light_on", "at_tv", "cell"):
            if key in info:
                assert info[key].tolist() == [r[1][key] for r in restarted]
    assert n_done > 0  # the runs crossed episode boundaries


def test_twin_parity_after_set_state():
    twin = envs.make("MullerBrown-v0", num_envs=3, dtype=torch.float64)
    singles = [_single("freeenergy/MullerBrown-v0", {}) for _ in range(3)]
    twin.reset(seed=5)
    for i, s in enumerate(singles):
        s.reset(seed=5 + i)
    states = np.array([[0.6, 0.0], [-0.8, 0.6], [0.2, 0.3]])
    obs = twin.set_state([0, 1, 2], states)
    np.testing.assert_allclose(obs.numpy(), states, atol=1e-6)
    assert [s.set_state(st).tolist() for s, st in zip(singles, states)]
    for _ in range(20):
        f = np.random.default_rng(1).uniform(-50, 50, size=(3, 2))
        obs, *_ = twin.step(torch.as_tensor(f))
        ref = np.stack([s.step(f[i])[0] for i, s in enumerate(singles)])
        np.testing.assert_allclose(obs.numpy(), ref, atol=1e-6)


def test_gridmaze_set_state_and_reachable_cells():
    env = envs.make("FourRooms-v0", num_envs=3)
    env.reset(seed=0)
    obs = env.set_state([0, 2], torch.tensor([[1, 1], [11, 11]]))
    assert env.get_state()[0].tolist() == [1, 1] and env.get_state()[2].tolist() == [11, 11]
    np.testing.assert_allclose(obs[0].numpy(), [1.5 / 13, 1.5 / 13])
    assert env.last_info["cell"][2].item() == 11 * 13 + 11
    with pytest.raises(ValueError, match="wall"):
        env.set_state([1], torch.tensor([[0, 0]]))
    # Coverage: every visited cell is one of the reachable ones.
    assert env.reachable_cells.numel() == 104
    assert envs.make("MultiRoom-v0").reachable_cells.numel() == 9 * 49 + 9
    env = envs.make("FourRooms-v0", num_envs=64)
    env.reset(seed=0)
    seen = set()
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        *_, info = env.step(env.sample_actions(gen))
        seen |= set(env.map_cells(info["map_xy"]).tolist())
    assert seen <= set(env.reachable_cells.tolist()) and len(seen) > 60


def test_same_step_autoreset_with_goal():
    env = envs.make("GridMaze-v0", num_envs=2, layout="#####\n#SG.#\n#####", max_steps=3)
    start = env.reset(seed=0)
    obs, reward, term, trunc, info = env.step(torch.tensor([1, 3]))  # right into G; left into wall
    assert term.tolist() == [True, False] and reward.tolist() == [1.0, 0.0]
    assert torch.equal(obs[0], start[0])  # already reset
    np.testing.assert_allclose(info["final_obs"][0].numpy(), [2.5 / 5, 1.5 / 3])
    assert info["final_map_xy"][0].tolist() == [2.5, 1.5] and info["map_xy"][0].tolist() == [1.5, 1.5]
    env.step(torch.tensor([3, 3]))
    _, _, term, trunc, _ = env.step(torch.tensor([3, 3]))
    assert trunc.tolist() == [False, True] and term.tolist() == [False, False]


def test_darkroom_dark_is_constant_and_light_comes_back():
    env = envs.make("DarkRoom-v0", num_envs=8)
    lit = env.reset(seed=1)
    assert env.last_info["light_on"].all() and (lit[:, 2] == 1).all()
    obs, *_, info = env.step(torch.full((8,), 5))
    assert not info["light_on"].any() and (obs == 0).all()
    gen = torch.Generator().manual_seed(0)
    for _ in range(30):  # moving and staying in the dark: always the same observation
        obs, *_, info = env.step(torch.randint(0, 5, (8,), generator=gen))
        assert (obs == 0).all() and not info["light_on"].any()
    assert env.map_cells(info["agent_xy"]).unique().numel() > 1  # the agent still moves
    obs, *_, info = env.step(torch.full((8,), 5))
    assert info["light_on"].all() and (obs[:, 2] == 1).all()
    stays = [env.step(torch.full((8,), 4))[0] for _ in range(10)]
    assert torch.stack(stays).std(dim=0)[:, 3:].sum() > 0  # uncontrollable objects and lamps change


def test_darkroom_switch_cell_only_works_there():
    env = envs.make("DarkRoom-v0", num_envs=2, switch_cell=(0, 0), num_objects=0, num_lamps=0)
    env.reset(seed=0)
    state = env.get_state()
    state[:, :2] = torch.tensor([[0, 0], [3, 3]])
    env.set_state([0, 1], state)
    *_, info = env.step(torch.tensor([5, 5]))
    assert info["light_on"].tolist() == [False, True]


def test_noisytv_noise_only_on_tv():
    env = envs.make("NoisyTV-v0", num_envs=2)
    env.reset(seed=0)
    tv = env.tables.layout.tvs[0]
    tv_xy = [tv[1], env.tables.height - 1 - tv[0]]
    env.set_state([0, 1], torch.tensor([tv_xy, [1, 11]]))
    frames = [env.step(torch.tensor([4, 4])) for _ in range(5)]
    noise = torch.stack([f[0][:, 2:] for f in frames])
    assert all(f[4]["at_tv"].tolist() == [True, False] for f in frames)
    assert (noise[:, 1] == 0).all() and noise[:, 0].std(dim=0).min() > 0


def test_muller_brown_potential_and_gradient():
    from envs import muller_brown as mb

    xy = np.array([mb.MINIMA["A"], mb.MINIMA["B"], mb.MINIMA["C"], [0.0, 1.0]])
    u = mb.potential(xy)
    np.testing.assert_allclose(u[:3], [-146.70, -108.17, -80.77], atol=0.01)
    np.testing.assert_allclose(mb.grad_potential(xy[:3]), 0.0, atol=0.5)
    h = 1e-6  # gradient against central differences, numpy and torch agree
    fd = np.stack([(mb.potential(xy + h * e) - mb.potential(xy - h * e)) / (2 * h) for e in np.eye(2)], axis=1)
    np.testing.assert_allclose(mb.grad_potential(xy), fd, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(mb.potential(torch.as_tensor(xy)).numpy(), u, rtol=1e-12)


def test_muller_brown_rarely_leaves_deep_minimum():
    env = envs.make("MullerBrown-v0", num_envs=256, start="A")
    env.reset(seed=0)
    zero = torch.zeros(256, 2)
    for _ in range(1000):
        obs, *_ = env.step(zero)
    from envs.muller_brown import MINIMA

    dist = (obs - torch.tensor(MINIMA["A"])).norm(dim=1)
    assert (dist < 0.4).float().mean() > 0.99


def test_pointmaze_walls_block():
    env = envs.make("PointMaze-v0", num_envs=1)
    env.reset(seed=0)
    for _ in range(50):  # push up into the top wall of the U maze
        obs, *_, info = env.step(torch.tensor([[0.0, 1.0]]))
    x, y = info["map_xy"][0].tolist()
    assert 3.0 < y < 4.0 and obs[0, 3] == 0  # stopped below the wall at y = 4


def test_errors_are_clear():
    with pytest.raises(ValueError, match="did you mean"):
        envs.make("GridMase-v0")
    with pytest.raises(ValueError, match="bundled layouts"):
        envs.make("GridMaze-v0", layout="no_such_layout")
    with pytest.raises(ValueError, match="characters"):
        envs.make("GridMaze-v0", layout="###\n#x#\n###")
    env = envs.make("GridMaze-v0", num_envs=2)
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(torch.tensor([0, 0]))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(torch.tensor([0, 0, 0]))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        env.step(torch.tensor([0, 7]))
    with pytest.raises(ValueError, match="already registered"):
        envs.register("freeenergy/GridMaze-v0", "envs.gridmaze:GridMaze", "envs.gridmaze:GridMazeTwin")


def test_registry_ids_work_in_gymnasium_and_short_names():
    for env_id in registered_ids():
        assert env_id.startswith("freeenergy/") and env_id in gym.registry
        short = env_id.split("/", 1)[1]
        if short in gym.registry:  # a Gymnasium id keeps naming Gymnasium's env
            assert isinstance(envs.make(short), envs.GymAdapter)
            continue
        assert type(envs.make(short)) is type(envs.make(env_id))


def test_vector_env_interface():
    venv = envs.make("GridMaze-v0", num_envs=3, max_steps=4).as_vector_env()
    assert isinstance(venv, gym.vector.VectorEnv)
    venv = gym.wrappers.vector.RecordEpisodeStatistics(venv)
    obs, info = venv.reset(seed=0)
    assert isinstance(obs, np.ndarray) and obs.shape == (3, 2) and info["map_xy"].shape == (3, 2)
    for t in range(4):
        obs, rew, term, trunc, info = venv.step(venv.action_space.sample())
    assert trunc.all() and info["_final_obs"].all() and info["final_obs"][0].shape == (2,)
    assert "episode" in info and (info["episode"]["l"] == 4).all()
    assert venv.observation_space.contains(obs)
    venv.close()
