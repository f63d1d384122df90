"""A population that spreads: novelty against the archive and the population, episodic novelty, prediction gain."""
from __future__ import annotations

import torch

from agents.intrinsic.base import Transitions
from agents.intrinsic.episodic import EpisodicNovelty
from experiments.build import make_env, make_source
from experiments.config import Config, build


def _cfg(**agent) -> Config:
    return build(Config, {"env": {"id": "freeenergy/LargeMaze-v0", "num_envs": 4},
                          "world_model": {"hidden": 32, "code_dim": 4, "sigma": 0.0},
                          "agent": {"type": "amortised", "online": {"fourier": 16}, **agent}})


def _at(env, cells_xy, action=0) -> Transitions:
    """One step of the copies from cells ``cells_xy`` ``(N, 2)`` with ``action``."""
    env.reset(seed=0)
    obs = env.set_state(torch.arange(env.num_envs), torch.as_tensor(cells_xy))
    act = torch.full((env.num_envs,), action, dtype=torch.long)
    _, _, _, _, info = env.step(act)
    return Transitions(obs, act, info["final_obs"], info["final_map_xy"].float(), env.num_envs)


def test_population_novelty_is_low_where_the_archive_has_been_and_where_other_copies_are():
    cfg = _cfg(intrinsic={"name": "population", "population": {"k": 2}})
    env = make_env(cfg, "cpu")
    src = make_source(cfg, env, torch.device("cpu"), torch.Generator().manual_seed(0))
    env.reset(seed=0)
    home = env.get_state()[0]
    here = _at(env, home.expand(4, 2))
    src.warm(here)
    for _ in range(3):
        src.score(here)  # the archive fills with this place
    # one copy far away, three at home: the far one is the most novel
    far = torch.tensor([[int(home[0]) + dx, int(home[1])] for dx in (0, 0, 0, 0)])
    reach = env.reachable_cells.numpy()
    w = env.grid_shape[0]
    dist = [abs(c % w - int(home[0])) + abs(c // w - int(home[1])) for c in reach]
    cell = reach[int(torch.tensor(dist).argmax())]
    far[3] = torch.tensor([cell % w, cell // w])
    scores = src.peek(_at(env, far))
    assert scores[3] > 2 * scores[:3].max()
    # the population term: copies on top of each other are less novel than the same place alone
    fresh = make_source(cfg, env, torch.device("cpu"), torch.Generator().manual_seed(0))
    crowd = _at(env, far[3].expand(4, 2))
    spread = _at(env, torch.stack([far[3], home, home, home]))
    assert fresh.score(crowd)[0] < make_source(cfg, env, torch.device("cpu"),
                                               torch.Generator().manual_seed(0)).score(spread)[0]


def test_population_archive_survives_a_checkpoint():
    cfg = _cfg(intrinsic={"name": "population"})
    env = make_env(cfg, "cpu")
    src = make_source(cfg, env, torch.device("cpu"), torch.Generator().manual_seed(0))
    env.reset(seed=0)
    batch = _at(env, env.get_state())
    src.score(batch)
    other = make_source(cfg, env, torch.device("cpu"), torch.Generator().manual_seed(1))
    other.load_state_dict(src.state_dict())
    assert torch.allclose(other.peek(batch), src.peek(batch))


def test_episodic_bonus_falls_with_repeats_in_a_copys_episode_and_starts_again_after_it():
    cfg = _cfg(intrinsic={"name": "count", "episodic": {"on": True, "ridge": 0.1}})
    env = make_env(cfg, "cpu")
    src = make_source(cfg, env, torch.device("cpu"), torch.Generator().manual_seed(0))
    assert isinstance(src, EpisodicNovelty)
    env.reset(seed=0)
    batch = _at(env, env.get_state())
    src.warm(batch)
    first = src.score(batch)
    src.inner.counts.zero_()  # the lifelong count held fixed: only the episodic part changes
    second = src.score(batch)
    assert torch.all(second < 0.5 * first)
    src.inner.counts.zero_()
    mask = torch.tensor([True, False, False, False])
    src.restarted(mask)  # copy 0 starts a new episode: its bonus comes back, the others' does not
    third = src.score(batch)
    assert third[0] > 0.9 * first[0] and torch.all(third[1:] < second[1:])
    # an episode end in the batch clears the memory after that step
    src.inner.counts.zero_()
    done = Transitions(batch.obs, batch.actions, batch.next_obs, batch.map_xy, 4, torch.ones(4, dtype=torch.bool))
    src.score(done)
    src.inner.counts.zero_()
    assert torch.allclose(src.score(batch), first, rtol=1e-4)


def test_prediction_gain_falls_as_a_transition_is_learned():
    cfg = _cfg(surprise={"term": "gain"}, online={"fourier": 16, "recent_fraction": 1.0})
    env = make_env(cfg, "cpu")
    src = make_source(cfg, env, torch.device("cpu"), torch.Generator().manual_seed(0))
    env.reset(seed=0)
    batch = _at(env, env.get_state())
    src.warm(batch)
    gains = []
    for _ in range(200):  # the same transitions again and again: their gain falls once they are learned
        gains.append(float(src.score(batch).mean()))
        src.learn(1)  # the score made this step's fit already: learn adds nothing
    assert src.world.fit_steps == 200
    assert gains[-1] < 0.5 * max(gains[:5])
    before = {k: v.clone() for k, v in src.world.members[0].state_dict().items()}
    src.peek(batch)
    assert all(torch.equal(before[k], v) for k, v in src.world.members[0].state_dict().items())
