"""The ``agent`` config section: the agent type and one typed section per part.

- ``agent.planner``: the planning agents' candidate search and cost (``fe``, ``afe``);
- ``agent.online``: how the world model learns online (ensemble, replay, fit ratio and
  samples per transition: how many steps, and how many rows each, per env step);
- ``agent.surprise``: how a world model's surprise is measured (planners and the
  ``afe`` / ``fe`` intrinsic sources alike; :class:`agents.intrinsic.SurpriseOptions`);
- ``agent.ppo``: the amortised agent's learner (:class:`agents.ppo_settings.PPOSettings`);
- ``agent.intrinsic``: the intrinsic source (``name``, a row of
  :mod:`agents.intrinsic`) and each source's typed options.

Every option is validated once, by the rule declared beside it
(:mod:`freeenergy.settings`). The flat keys of 0.2 (``agent.horizon``,
``agent.bonus``, ...) are refused with one line naming the new key; a saved
run's config.yaml is read with them moved (:func:`migrate_saved`).
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from agents import intrinsic as sources
from agents.intrinsic import SurpriseOptions
from agents.ppo_settings import PPOSettings
from experiments import agent_table
from freeenergy.settings import Settings, at_least, between, numbers, one_of, require, setting


@dataclass(frozen=True)
class PlannerConfig(Settings):
    method: str = setting("shooting", "Candidate search: shooting (random sequences) or cem (cross-entropy "
                          "method).", one_of("shooting", "cem"))
    horizon: int = setting(6, "Imagined steps H per candidate action sequence.", at_least(1, True))
    candidates: int = setting(64, "Candidate action sequences C per environment copy.", at_least(1, True))
    cem_iters: int = setting(3, "CEM refits per planning call.", at_least(1, True))
    elite_frac: float = setting(0.1, "CEM: share of candidates kept as elites.", between(0, 1, "(]"))
    repeat_prob: float = setting(0.5, "Discrete shooting: chance that an action repeats the previous one.",
                                 between(0, 1))
    discount: float = setting(1.0, "Weight discount**h of imagined step h.", between(0, 1, "(]"))
    epsilon: float = setting(0.0, "Chance of a uniformly random action per copy and step.", between(0, 1))
    action_repeat: int = setting(1, "Env steps each decision is held for; the world model learns [obs_t, action, "
                                 "obs_t+k] (temporal abstraction, like frame skip).", at_least(1, True))
    surprise_weight: float = setting(1.0, "Weight of the surprise term (minimised by fe, maximised by afe).")
    goal_obs: tuple[float, ...] = setting((), "Prior preference: a goal observation (raw units); empty for none.",
                                          numbers())
    goal_weight: float = setting(0.0, "Weight of the goal-preference (risk) term in the cost.")

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.goal_weight == 0 or bool(self.goal_obs), "goal_obs", list(self.goal_obs),
                "a goal observation when goal_weight != 0")


@dataclass(frozen=True)
class OnlineConfig(Settings):
    ensemble: int = setting(1, "World models learning side by side (their disagreement is the epistemic "
                            "surprise).", at_least(1, True))
    replay_capacity: int = setting(50000, "Transitions kept in the world model's replay buffer.", at_least(1, True))
    recent_fraction: float = setting(0.0, "Share of each world-model batch drawn from the newest transitions.",
                                     between(0, 1))
    recent_window: int = setting(1024, "Newest transitions that recent_fraction draws from.", at_least(1, True))
    fit_ratio: int = setting(1, "Learning steps of the world model (or of the intrinsic source) per env step "
                             "(per decision with action_repeat).", at_least(0, True))
    samples_per_transition: float = setting(1.0, "Least world-model rows trained on per transition stored, on "
                                            "average: each fit's batch grows from world_model.batch_size with "
                                            "env.num_envs until the transitions since the previous fit are drawn "
                                            "this many times (0: always world_model.batch_size). The run's summary "
                                            "reports the measured figure.", at_least(0))
    fit_every: int = setting(1, "Stable-baselines3 bonus: learn on every fit_every-th vec step only (amortises "
                             "learning over several batches of transitions).", at_least(1, True))
    surprise_head: bool = setting(False, "Train a surprise head S(obs, action) on the free energy of real "
                                  "transitions (needed by agent.surprise.term=predicted).")
    fourier: int = setting(0, "Random Fourier features of each normalised observation in the world model's input "
                           "(0: none). They keep neighbouring places apart, so that the model's error tracks "
                           "visits instead of generalising to unvisited neighbours (amortised and stable-baselines3 "
                           "agents; planners decode raw observations).", at_least(0, True))
    fourier_scale: float = setting(10.0, "Std of those features' frequencies per normalised observation unit.",
                                   between(0, 1e6, "(]"))
    head_discount: float = setting(0.0, "Surprise head: discount of the bootstrapped cumulative free energy (0: "
                                   "one step; > 0: an unbounded horizon, Discrete actions only).", between(0, 1, "[)"))


def _intrinsic_fields() -> list[tuple[str, Any, Any]]:
    """``name``, then one options section per row of ``agents.intrinsic.OPTIONS``."""
    out: list[tuple[str, Any, Any]] = [
        ("name", str, setting("afe", f"Intrinsic source of amortised and stable-baselines3 agents: "
                              f"{sources.describe()}."))]
    for key, cls in sources.OPTIONS.items():
        out.append((key, cls, field(default_factory=cls, metadata={"doc": cls.__doc__ or ""})))
    return out


def _check_intrinsic(self: Any) -> None:
    names = sources.source_names()
    require(self.name in names, "name", self.name, "one of " + ", ".join(map(repr, names)))


if TYPE_CHECKING:
    class IntrinsicConfig:
        """For type checkers: the options sections are generated from the source table at run time."""

        name: str

        def __init__(self, **settings: Any) -> None: ...

        def __getattr__(self, key: str) -> Any: ...
else:
    #: ``agent.intrinsic``: the source's name and every source's options (from :mod:`agents.intrinsic`).
    IntrinsicConfig = dataclasses.make_dataclass(
        "IntrinsicConfig", _intrinsic_fields(), frozen=True,
        namespace={"__post_init__": _check_intrinsic, "__module__": __name__,
                   "__doc__": "The intrinsic source and its options."})

#: Flat keys of 0.2 and where they live now.
RENAMED = {
    "surprise": "agent.surprise.term", "draws": "agent.surprise.draws", "fe_draws": "agent.surprise.fe_draws",
    "complete_init": "agent.surprise.complete_init",
    **{k: f"agent.planner.{k}" for k in ("horizon", "candidates", "cem_iters", "elite_frac", "repeat_prob",
                                          "discount", "epsilon", "action_repeat", "surprise_weight", "goal_obs",
                                          "goal_weight")},
    "planner": "agent.planner.method",
    **{k: f"agent.online.{k}" for k in ("ensemble", "replay_capacity", "recent_fraction", "recent_window",
                                         "fit_ratio", "fit_every", "surprise_head", "head_discount")},
    "bonus": "agent.intrinsic.name",
    "ppo.predictor_lr": "agent.intrinsic.rnd.lr", "ppo.predictor_fraction": "agent.intrinsic.rnd.fraction",
    "complete_steps": "world_model.complete_steps",
}


@dataclass(frozen=True)
class AgentConfig:
    __renamed__: ClassVar[dict[str, str]] = RENAMED
    type: str = setting("afe", f"Agent: {agent_table.describe()}; stable-baselines3 algorithms train with "
                        "agent.intrinsic.")
    warmup_steps: int = setting(10, "Random steps before the agent starts planning or learning.", at_least(0, True))
    int_coef: float = setting(1.0, "Weight of the intrinsic reward.", at_least(0))
    ext_coef: float = setting(0.0, "Weight of the environment's own reward (0: no extrinsic reward).")
    sb3_kwargs: dict = setting({}, "Keyword arguments of the stable-baselines3 algorithm, e.g. {n_steps: 64}.")
    planner: PlannerConfig = field(default_factory=PlannerConfig, metadata={"doc": "Planning agents (fe, afe)."})
    online: OnlineConfig = field(default_factory=OnlineConfig, metadata={"doc": "Online world-model learning."})
    surprise: SurpriseOptions = field(default_factory=SurpriseOptions,
                                      metadata={"doc": "How a world model's surprise is measured."})
    ppo: PPOSettings = field(default_factory=PPOSettings, metadata={"doc": "The amortised agent's PPO."})
    intrinsic: IntrinsicConfig = field(default_factory=IntrinsicConfig,
                                       metadata={"doc": "The intrinsic source and its options."})

    def __post_init__(self) -> None:
        from freeenergy.settings import check_settings

        types = agent_table.agent_types()  # read now: a row may be registered after import
        require(self.type in types, "type", self.type, "one of " + ", ".join(map(repr, types)))
        check_settings(self)
        s, o = self.surprise, self.online
        require(s.term != "predicted" or o.surprise_head, "online.surprise_head", o.surprise_head,
                "true when agent.surprise.term is predicted")


def migrate_saved(data: dict) -> dict:
    """A saved config.yaml with the flat keys of 0.2 moved to their new places (for ``resume``)."""
    data = copy.deepcopy(data)
    agent = data.get("agent")
    if not isinstance(agent, dict):
        return data
    for old, new in RENAMED.items():
        head, _, leaf = old.partition(".")
        holder = agent.get(head) if leaf else agent
        key = leaf or head
        if not isinstance(holder, dict) or key not in holder or (not leaf and isinstance(holder[key], dict)):
            continue
        value = holder.pop(key)
        *path, last = new.split(".")
        target = data
        for part in path:
            target = target.setdefault(part, {})
        target.setdefault(last, value)
    return data
