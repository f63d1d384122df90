"""MiniGrid (Chevalier-Boisvert et al. 2023) plugged in through the entry-point path.

MiniGrid's observation is a ``Dict`` with a ``Text`` mission, which has no
fixed-size flat form, so ``envs.make("MiniGrid-...")`` cannot adapt it as is.
:class:`MiniGridFlat` wraps any MiniGrid id into an env the adapter takes:

- observation (float32, 151 numbers): the agent's 7x7 egocentric view (object,
  colour, state per cell: MiniGrid's ``image``, each channel divided by its
  largest value so it lies in [0, 1]) flattened, then the facing direction
  one-hot (4); the mission text is dropped (it is fixed for MultiRoom and
  irrelevant to exploration);
- ``info["map_xy"]``: the agent's grid position ``(x + 0.5, H - 1 - y + 0.5)``
  (x right, y up as the project's maps), ``map_bounds`` ((0, W), (0, H)),
  ``grid_shape`` (W, H): coverage counts the grid cells the agent stood on.
- ``reachable_cells``: the cells the agent can reach (flood fill from its
  start through floor, doors and other cells it may stand on; walls and the
  space outside the rooms are not counted), gathered over every layout this
  copy has drawn: MiniGrid redraws the layout each episode, so the set grows
  (``reachable_grows``) and coverage is over the layouts drawn so far.
- ``title`` (the level, e.g. ``MiniGrid-MultiRoom-N6-v0``) and ``map_labels``
  name the maps.
- actions and rewards are MiniGrid's (``Discrete(7)``; reward on reaching the
  goal, episodes end at the goal or after MiniGrid's ``max_steps``).

Use it from a config as ``env.id: envs.minigrid_env:MiniGridFlat`` with
``env.kwargs: {env_id: MiniGrid-MultiRoom-N6-v0}`` (preset
``minigrid-multiroom-afe``), or ``envs.make("envs.minigrid_env:MiniGridFlat",
num_envs, env_id=...)``. MiniGrid is an optional extra:
``pip install 'freeenergy[minigrid]'``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

INSTALL_HINT = "MiniGrid is not installed: pip install 'freeenergy[minigrid]' (or pip install minigrid)"
VIEW_CELLS = 7 * 7


def import_minigrid() -> Any:
    """The ``minigrid`` package (which registers its ids), or a one-line install hint."""
    try:
        import minigrid
    except ImportError as err:
        raise ImportError(INSTALL_HINT) from err
    return minigrid


class MiniGridFlat(gym.Env):
    """A MiniGrid env with a flat float observation and ``map_xy`` (see module doc).

    Args:
        env_id: a MiniGrid id, e.g. ``"MiniGrid-MultiRoom-N6-v0"``.
        **kwargs: passed to ``gymnasium.make(env_id, ...)`` (e.g. ``max_steps``).
    """

    metadata = {"render_modes": []}

    def __init__(self, env_id: str = "MiniGrid-MultiRoom-N6-v0", **kwargs: Any) -> None:
        import_minigrid()
        if not isinstance(env_id, str) or env_id not in gym.registry or not env_id.startswith("MiniGrid-"):
            known = sorted(k for k in gym.registry if k.startswith("MiniGrid-"))[:6]
            raise ValueError(f"env_id={env_id!r} is not a MiniGrid id; valid: MiniGrid ids such as {known}")
        self.env = gym.make(env_id, **kwargs)
        inner = self.env.unwrapped
        self.width, self.height = int(inner.width), int(inner.height)
        from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX, STATE_TO_IDX

        # Largest object / colour / state index: each channel of the view lands in [0, 1].
        self._scale = np.array([max(OBJECT_TO_IDX.values()), max(COLOR_TO_IDX.values()),
                                max(STATE_TO_IDX.values())], dtype=np.float32)
        self.observation_space = spaces.Box(0.0, 1.0, (VIEW_CELLS * 3 + 4,), np.float32)
        self.action_space = self.env.action_space
        self.map_bounds = ((0.0, float(self.width)), (0.0, float(self.height)))
        self.grid_shape = (self.width, self.height)
        self.env_id = self.title = env_id
        self.map_labels = ("grid column (x)", "grid row (y, up)")
        self.reachable_grows = True
        self._reachable = np.zeros(self.width * self.height, dtype=bool)

    @property
    def reachable_cells(self) -> np.ndarray:
        """Map cells (``iy * W + ix``) reachable in the layouts drawn so far (module doc)."""
        return np.flatnonzero(self._reachable)

    def _flood(self) -> None:
        """Add the cells reachable from the agent in the current layout."""
        inner = self.env.unwrapped
        grid, todo = inner.grid, [tuple(int(v) for v in inner.agent_pos)]
        seen = set(todo)
        while todo:
            x, y = todo.pop()
            self._reachable[(self.height - 1 - y) * self.width + x] = True
            for nx, ny in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                if (nx, ny) in seen or not (0 <= nx < self.width and 0 <= ny < self.height):
                    continue
                cell = grid.get(nx, ny)
                if cell is None or cell.can_overlap() or cell.type == "door":
                    seen.add((nx, ny))
                    todo.append((nx, ny))

    def _obs(self, obs: dict) -> np.ndarray:
        view = np.asarray(obs["image"], dtype=np.float32).reshape(-1, 3) / self._scale
        direction = np.zeros(4, dtype=np.float32)
        direction[int(obs["direction"])] = 1.0
        return np.concatenate([view.reshape(-1), direction]).clip(0.0, 1.0)

    def _info(self, info: dict) -> dict[str, Any]:
        x, y = (int(v) for v in self.env.unwrapped.agent_pos)
        out = {k: v for k, v in info.items() if isinstance(v, (int, float, bool, np.ndarray))}
        out["map_xy"] = np.array([x + 0.5, self.height - 1 - y + 0.5], dtype=np.float32)
        return out

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs, info = self.env.reset(seed=seed, options=options)
        self._flood()
        return self._obs(obs), self._info(info)

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(int(action))
        return self._obs(obs), float(reward), bool(terminated), bool(truncated), self._info(info)

    def close(self) -> None:
        self.env.close()
