"""Action repeat as a wrapper agent; rare-state biasing through the agent's narrow interface."""
from __future__ import annotations

import pytest
import torch

from agents.objective import Objective
from agents.protocol import Step
from agents.rare_state import RareStateBias
from agents.repeat import ActionRepeat
from experiments.config import Config, ConfigError, build


class Inner:
    """A stand-in planning agent that records what the wrapper asks of it."""

    device = torch.device("cpu")
    world = "the world model"

    def __init__(self) -> None:
        self.decisions = self.steps = self.updates = 0
        self.recorded: list[torch.Tensor] = []
        self.last_metrics = {"loss": -1.0}

    def act(self, obs):
        self.decisions += 1
        return torch.full((obs.shape[0],), self.decisions)

    def end_step(self, done=None):
        self.steps += 1

    def record(self, obs, actions, next_obs, weights=None):
        self.recorded.append(actions)
        return torch.ones(actions.shape[0])

    def update(self):
        self.updates += 1
        return {"loss": float(self.updates)}

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = state["steps"]


def test_action_repeat_holds_decisions_and_stores_one_transition_per_decision():
    inner = Inner()
    agent = ActionRepeat(inner, repeat=3)
    obs = torch.zeros(4, 2)
    done = torch.tensor([False, True, False, False])
    sizes, actions = [], []
    for t in range(6):
        actions.append(agent.act(obs).tolist())
        d = done if t == 0 else torch.zeros(4, dtype=torch.bool)
        sizes.append(agent.observe(Step(obs, torch.zeros(4), obs + 1, d, torch.zeros(4))).numel())
        agent.update()
    assert actions == [[1] * 4] * 3 + [[2] * 4] * 3  # a new decision every 3 steps
    assert sizes == [1, 0, 3, 0, 0, 4]  # copy 1's episode ended at step 1; the rest at the decision's end
    assert inner.steps == 6 and inner.updates == 2  # counted every step, learned once per decision
    assert agent.state_dict() == {"steps": 6, "k": 3}


def test_action_repeat_rejects_zero_and_forwards_reads():
    with pytest.raises(ValueError, match="action_repeat"):
        ActionRepeat(Inner(), repeat=0)
    wrapped = ActionRepeat(Inner(), repeat=2)
    assert wrapped.world == "the world model" and wrapped.device == torch.device("cpu")
    wrapped.act(torch.zeros(2, 1))
    wrapped.observe(Step(torch.zeros(2, 1), torch.zeros(2), torch.ones(2, 1), torch.zeros(2, dtype=torch.bool),
                         torch.zeros(2)))
    assert wrapped.update() == {"loss": -1.0}  # between decisions: the inner agent's last metrics


def test_rare_state_biasing_with_held_actions_is_a_config_error():
    with pytest.raises(ConfigError, match="agent.planner.action_repeat=4.*umbrella.windows"):
        build(Config, {"umbrella": {"windows": 2}, "agent": {"type": "afe", "planner": {"action_repeat": 4}}})


class Biased:
    """Only the narrow interface rare-state biasing may use."""

    def __init__(self) -> None:
        self.weights: list[torch.Tensor] = []
        self.restarts: list[torch.Tensor] = []

    def set_score_bias(self, bias):
        self.bias = bias

    def weight_last_transitions(self, weights):
        self.weights.append(weights)

    def restarted(self, mask):
        self.restarts.append(mask)


class NoStateEnv:
    def get_state(self):
        raise NotImplementedError


def test_rare_state_talks_to_the_agent_through_its_interface_only():
    rb = RareStateBias(num_envs=4, windows=2, refresh=2, fe_quantiles=(0.0, 1.0))
    agent, env = Biased(), NoStateEnv()
    obs = torch.zeros(4, 2)
    for step in range(1, 5):
        rb.before_step(env, agent)
        rb.after_step(env, agent, torch.rand(4), obs, step)
    assert rb.centres is not None and len(agent.weights) >= 1 and agent.weights[0].shape == (4,)
    with pytest.raises(ValueError, match="one transition per copy"):
        rb.after_step(env, agent, torch.rand(2), obs, 5)


def test_objective_signs():
    assert Objective.MINIMISE.cost_sign == 1.0 and Objective.MAXIMISE.cost_sign == -1.0
    assert Objective.MAXIMISE.reward_sign == 1.0
    v = torch.tensor([[1.0, 3.0, 2.0]])
    assert Objective.MAXIMISE.best(v).item() == 3.0 and Objective.MINIMISE.best(v).item() == 1.0


@pytest.mark.parametrize("old,value,new", [
    ("horizon", 3, "agent.planner.horizon"), ("bonus", "rnd", "agent.intrinsic.name"),
    ("planner", "cem", "agent.planner.method"), ("surprise", "epistemic", "agent.surprise.term"),
    ("replay_capacity", 10, "agent.online.replay_capacity"), ("complete_steps", 4, "world_model.complete_steps")])
def test_flat_agent_keys_of_0_2_fail_naming_the_new_key(old, value, new):
    with pytest.raises(ConfigError) as err:
        build(Config, {"agent": {old: value}})
    msg = str(err.value)
    assert msg.startswith(f"agent.{old} is now {new}") and "\n" not in msg
    with pytest.raises(ConfigError, match="agent.ppo.predictor_lr is now agent.intrinsic.rnd.lr"):
        build(Config, {"agent": {"ppo": {"predictor_lr": 0.1}}})


def test_a_saved_config_of_0_2_is_read_with_its_keys_moved():
    from experiments.config import from_dict

    cfg = from_dict({"agent": {"type": "amortised", "bonus": "rnd", "horizon": 3, "ensemble": 2,
                               "surprise": "epistemic", "ppo": {"rollout": 8, "predictor_lr": 0.01}},
                     "world_model": {"hidden": 16}})
    a = cfg.agent
    assert (a.intrinsic.name, a.planner.horizon, a.online.ensemble, a.surprise.term, a.ppo.rollout,
            a.intrinsic.rnd.lr) == ("rnd", 3, 2, "epistemic", 8, 0.01)


def make_constant_agent(cfg, env, device, generator):
    return ("constant", env.num_envs)


def test_a_new_agent_type_is_one_row():
    import envs
    from experiments import agent_table
    from experiments.build import make_agent

    agent_table.register_agent("constant", agent_table.AgentSpec(f"{__name__}:make_constant_agent", "baseline",
                                                                 "a test agent"))
    try:
        cfg = build(Config, {"agent": {"type": "constant"}})
        assert make_agent(cfg, envs.make("freeenergy/GridMaze-v0", 3, "cpu"), torch.device("cpu"), None) == \
            ("constant", 3)
    finally:
        agent_table.AGENTS.pop("constant")
    with pytest.raises(ConfigError, match="agent.type='constant'"):
        build(Config, {"agent": {"type": "constant"}})


def test_agent_constructors_default_to_what_the_agent_section_defaults_to():
    import dataclasses
    import inspect

    from agents.base import PlanningAgent
    from agents.online import OnlineWorldModel
    from agents.planner import Planner
    from experiments.config import AgentConfig

    section = AgentConfig()
    # Each constructor keyword's setting: a scalar of the agent section or of one of its parts.
    where = {f.name: (part, f.name) for part in ("planner", "online", "surprise")
             for f in dataclasses.fields(getattr(section, part))}
    where.update({f.name: (None, f.name) for f in dataclasses.fields(section)
                  if not dataclasses.is_dataclass(getattr(section, f.name))})
    where["surprise"] = ("surprise", "term")
    not_settings = {"goal_obs", "surprise_head"}  # objects here, settings in the config
    checked = 0
    for cls in (Planner, PlanningAgent, OnlineWorldModel):
        for name, p in inspect.signature(cls.__init__).parameters.items():
            if name in not_settings or p.default is inspect.Parameter.empty or name not in where:
                continue
            part, key = where[name]
            value = getattr(section if part is None else getattr(section, part), key)
            assert p.default == value, f"{cls.__name__}({name}=) vs agent.{part}.{key}"
            checked += 1
    assert checked >= 15
