"""LargeMaze, DeepSea and the CartPole twin: what each world promises beyond twin parity."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
from envs.largemaze import generate_layout, max_rooms
from envs.layout import parse_layout


def test_largemaze_layout_is_seeded_connected_and_has_dead_ends():
    a, b = generate_layout(31, 6, 3, 0), generate_layout(31, 6, 3, 1)
    assert a == generate_layout(31, 6, 3, 0) and a != b
    lay = parse_layout(a)
    free = ~lay.walls
    assert len(lay.reachable()) == int(free.sum())  # every free cell is reachable from S
    pad = np.pad(free, 1)
    neighbours = pad[:-2, 1:-1].astype(int) + pad[2:, 1:-1] + pad[1:-1, :-2] + pad[1:-1, 2:]
    assert ((neighbours == 1) & free).sum() >= 10  # dead ends
    env = envs.make("LargeMaze-v0", num_envs=2, size=31, rooms=6, room_size=3)
    assert env.grid_shape == (31, 31) and env.reachable_cells.numel() == int(free.sum())


def test_largemaze_default_leaves_random_coverage_below_half_at_the_standard_budget():
    # The maze-large-* budget: 64 copies x 2,000 steps.
    env = envs.make("freeenergy/LargeMaze-v0", num_envs=64)
    env.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    seen = torch.zeros(env.num_cells, dtype=torch.bool)
    seen[env.map_cells(env.last_info["map_xy"])] = True
    for _ in range(2000):
        *_, info = env.step(env.sample_actions(gen))
        seen[env.map_cells(info["map_xy"])] = True
    coverage = seen[env.reachable_cells].float().mean().item()
    assert 0.01 < coverage < 0.5
    assert seen.sum() == seen[env.reachable_cells].sum()


@pytest.mark.parametrize("kwargs,match", [
    ({"size": 8}, "size=8"),
    ({"size": 5}, "size=5"),
    ({"size": 15, "rooms": 9}, r"rooms=9 .*size=15.*valid rooms are 0\.\.1"),
    ({"room_size": 1}, "room_size=1"),
    ({"layout_seed": -1}, "layout_seed=-1"),
])
def test_largemaze_bad_input_is_one_line(kwargs, match):
    with pytest.raises(ValueError, match=match) as err:
        envs.make("LargeMaze-v0", **kwargs)
    assert "\n" not in str(err.value)
    assert max_rooms(51, 3) >= 16


def _deepsea_right_actions(env) -> torch.Tensor:
    """The action meaning "right" at every copy's current cell."""
    state = env.get_state()
    n = env.size
    return env._mapping[state[:, 1] * n + state[:, 0]]


def test_deepsea_all_right_reaches_the_corner_and_reports_it():
    n = 6
    env = envs.make("DeepSea-v0", num_envs=3, size=n)
    obs = env.reset(seed=0)
    assert obs.shape == (3, n * n) and (obs[:, 0] == 1).all()
    assert env.reachable_cells.numel() == n * (n + 1) // 2 + n and env.grid_shape == (n, n + 1)
    total = torch.zeros(3)
    for t in range(n):
        right = _deepsea_right_actions(env)
        actions = torch.stack([right[0], 1 - right[1], right[2] if t < n - 1 else 1 - right[2]])
        obs, reward, term, trunc, info = env.step(actions)
        total += reward
        assert info["metrics"]["depth"].tolist() == ([float(t + 1)] * 3 if t < n - 1 else [0.0] * 3)
        assert term.all() == (t == n - 1) and not trunc.any()
    assert info["is_success"].tolist() == [True, False, False]
    assert info["final_map_xy"][0].tolist() == [n - 0.5, n + 0.5]  # (column, row) centres
    assert torch.allclose(total, torch.tensor([1 - 0.01, 0.0, -0.01 * (n - 1) / n]), atol=1e-6)
    summary = env.summary_metrics()
    assert summary["corner_reached"] == 1.0 and summary["first_corner_episode"] == 1.0 and summary["episodes"] == 3


def test_deepsea_first_corner_episode_counts_episodes_over_all_copies():
    env = envs.make("DeepSea-v0", num_envs=2, size=3)
    env.reset(seed=0)
    for _ in range(3):  # episodes 1, 2: both copies go wrong
        env.step(1 - _deepsea_right_actions(env))
    assert np.isnan(env.summary_metrics()["first_corner_episode"])
    for _ in range(3):  # episodes 3, 4: copy 1 goes all right
        env.step(torch.stack([1 - _deepsea_right_actions(env)[0], _deepsea_right_actions(env)[1]]))
    assert env.summary_metrics() == {"corner_reached": 1.0, "first_corner_episode": 4.0, "episodes": 4.0}


def test_deepsea_random_policy_rarely_finds_the_corner_and_mapping_is_per_cell():
    env = envs.make("DeepSea-v0", num_envs=256, size=10)
    env.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(10 * 8):  # 2,048 episodes: expected corner visits 2048 / 2^10 = 2
        env.step(env.sample_actions(gen))
    assert env.summary_metrics()["episodes"] == 2048
    mapping = env._mapping.reshape(10, 10)
    assert 0.3 < mapping.float().mean() < 0.7  # no fixed action is "right" everywhere
    big = envs.make("DeepSea-v0", num_envs=64, size=20)
    big.reset(seed=0)
    for _ in range(20 * 10):
        big.step(big.sample_actions(gen))
    assert big.summary_metrics()["corner_reached"] == 0.0


@pytest.mark.parametrize("kwargs,match", [
    ({"size": 1}, "size=1"), ({"size": 0}, "size=0"), ({"observation": "pixels"}, "observation='pixels'"),
])
def test_deepsea_bad_input_is_one_line(kwargs, match):
    with pytest.raises(ValueError, match=match) as err:
        envs.make("DeepSea-v0", **kwargs)
    assert "\n" not in str(err.value)


def _balance(obs: np.ndarray) -> int:
    """A PD controller that keeps the pole up for the whole episode."""
    return int(obs[2] + 0.5 * obs[3] + 0.01 * obs[0] + 0.05 * obs[1] > 0)


@pytest.mark.parametrize("policy", ["balance", "random"])
def test_cartpole_twin_replays_gymnasium_cartpole_v1(policy):
    ref = gym.make("CartPole-v1")
    twin = envs.make("freeenergy/CartPole-v1", num_envs=1)
    rng = np.random.default_rng(0)
    episodes = 0
    for ep in range(3):
        obs, _ = ref.reset(seed=ep)
        twin.reset(seed=ep)
        twin_obs = twin.set_state([0], torch.as_tensor(ref.unwrapped.state)[None])
        np.testing.assert_allclose(twin_obs[0].numpy(), obs, atol=1e-7)
        for t in range(600):
            a = _balance(obs) if policy == "balance" else int(rng.integers(2))
            obs, r, term, trunc, _ = ref.step(a)
            _, tr, tterm, ttrunc, info = twin.step(torch.tensor([a]))
            np.testing.assert_allclose(info["final_obs"][0].numpy(), obs, rtol=1e-6, atol=1e-6)
            assert (tr.item(), tterm.item(), ttrunc.item()) == (r, term, trunc), t
            if term or trunc:
                episodes += 1
                break
        if policy == "balance":
            assert t == 499 and trunc and not term  # truncated at 500 as CartPole-v1
    assert episodes == 3


def test_cartpole_short_gymnasium_id_stays_gymnasium():
    assert isinstance(envs.make("CartPole-v1"), envs.GymAdapter)
    twin = envs.make("freeenergy/CartPole-v1", num_envs=8)
    assert type(twin).__name__ == "CartPoleTwin" and twin.reset(seed=0).shape == (8, 4)
    assert twin.map_bounds[0] == (-2.4, 2.4)


def test_minigrid_multiroom_plugs_in_through_the_entry_point():
    pytest.importorskip("minigrid")
    env = envs.make("envs.minigrid_env:MiniGridFlat", num_envs=2, env_id="MiniGrid-MultiRoom-N6-v0")
    obs = env.reset(seed=0)
    assert obs.shape == (2, 151) and 0 <= obs.min() and obs.max() <= 1
    assert env.grid_shape == (25, 25) and env.map_bounds == ((0.0, 25.0), (0.0, 25.0))
    # Reachable: the cells of the layouts drawn so far (walls and the space outside the rooms not counted).
    assert env.num_actions == 7 and env.reachable_grows
    here = env.map_cells(env.last_info["map_xy"])
    assert set(here.tolist()) <= set(env.reachable_cells.tolist()) and len(env.reachable_cells) < 25 * 25 / 2
    gen = torch.Generator().manual_seed(0)
    cells = set()
    for _ in range(30):
        obs, *_, info = env.step(env.sample_actions(gen))
        assert (info["map_xy"] > 0).all() and (info["map_xy"] < 25).all()
        cells |= set(env.map_cells(info["map_xy"]).tolist())
    assert len(cells) > 2
    with pytest.raises(ValueError, match="env_id='CartPole-v1'"):
        envs.make("envs.minigrid_env:MiniGridFlat", env_id="CartPole-v1")
    env.close()


def test_minigrid_missing_gives_an_install_hint(monkeypatch):
    import sys

    from envs import minigrid_env

    monkeypatch.setitem(sys.modules, "minigrid", None)  # import minigrid -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'freeenergy\[minigrid\]'") as err:
        minigrid_env.MiniGridFlat()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("overrides, key", [
    (["env.id=freeenergy/LargeMaze-v0", "env.kwargs.size=15", "env.kwargs.rooms=9"], "rooms=9"),
    (["env.id=freeenergy/DeepSea-v0", "env.kwargs.size=1"], "size=1"),
])
def test_bad_world_sizes_are_one_line_cli_errors(tmp_path, capsys, overrides, key):
    from experiments.cli import main

    code = main(["run", "maze-random", *overrides, "--debug", "logging.wandb=disabled",
                 "--out", str(tmp_path / "x"), "--quiet"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and key in lines[0]
    assert "valid" in lines[0] or "expected" in lines[0]


def test_deepsea_counters_survive_a_checkpoint_through_the_tracker():
    from experiments.tracker import Tracker

    env = envs.make("DeepSea-v0", num_envs=2, size=3)
    env.reset(seed=0)
    for _ in range(3):  # episodes 1, 2 go wrong
        env.step(1 - _deepsea_right_actions(env))
    saved = Tracker(env, 10).state_dict()
    fresh = envs.make("DeepSea-v0", num_envs=2, size=3)  # a resumed run builds a new env
    fresh.reset(seed=0)
    Tracker(fresh, 10).load_state_dict(saved)
    for _ in range(3):  # episode 4 (copy 1) reaches the corner
        fresh.step(torch.stack([1 - _deepsea_right_actions(fresh)[0], _deepsea_right_actions(fresh)[1]]))
    assert fresh.summary_metrics() == {"corner_reached": 1.0, "first_corner_episode": 4.0, "episodes": 4.0}
