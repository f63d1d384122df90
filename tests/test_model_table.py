"""The world-model table is the one source of options: every run kind and the Python API agree."""
from __future__ import annotations

import pytest
import torch

import envs
from experiments.build import make_world
from experiments.config import Config, ConfigError, WorldModelConfig, build, field_docs, to_dict
from experiments.kinds import generative
from experiments.kinds import novelty as novelty_run
from freeenergy import model_table as table
from freeenergy.models import build_world_model, load_world_model, options_for
from freeenergy.rae import RAE

NAMES = list(table.model_names())
#: Settings a user might write; each model takes the ones its row lists.
SETTINGS = {"hidden": 24, "depth": 2, "code_dim": 3, "passes": 2, "sigma": 0.05, "code_penalty": 0.01,
            "lr": 0.002, "sample_steps": 7, "complete_steps": 4, "chain_steps": 2, "chain_corruption": 0.1,
            "corruption": 0.2, "beta": 0.5, "obs_var": 0.3, "smoothing": 0.2, "search_steps": 3}


def _cfg(name: str) -> Config:
    return build(Config, {"world_model": {"name": name, **SETTINGS}, "agent": {"type": "afe"},
                          "generative": {"models": [name]}})


def _options(model) -> dict:
    kw = model.init_kwargs
    kw.pop("input_dim")
    return kw


def _built_by_every_run_kind(name: str) -> dict[str, dict]:
    cfg = _cfg(name)
    env = envs.make("freeenergy/GridMaze-v0", 2, "cpu")
    agent = make_world(cfg, env, torch.device("cpu"), torch.Generator().manual_seed(0)).model
    return {"agent": _options(agent),
            "generative": _options(generative.build_model(cfg, name, 3, "cpu")),
            "novelty": _options(novelty_run.build_model(cfg, 16, "cpu")),
            "python": _options(build_world_model(name, 3, **options_for(name, SETTINGS)))}


@pytest.mark.parametrize("name", NAMES)
def test_every_run_kind_builds_the_same_model_from_the_same_settings(name):
    built = _built_by_every_run_kind(name)
    expected = table.resolve(name, options_for(name, SETTINGS))
    for kind, kwargs in built.items():
        assert kwargs == expected, kind
    # Every setting the model reads took effect, none fell back to a default.
    for key in table.spec(name).uses:
        if key in SETTINGS:
            assert expected[key] == SETTINGS[key], key


def test_dae_passes_takes_effect_in_agent_runs():
    cfg = build(Config, {"world_model": {"name": "dae", "passes": 2}})
    env = envs.make("freeenergy/GridMaze-v0", 2, "cpu")
    model = make_world(cfg, env, torch.device("cpu"), torch.Generator().manual_seed(0)).model
    assert model.walkback == 2
    assert generative.build_model(cfg, "dae", 3, "cpu").walkback == 2


def test_python_api_accepts_what_the_config_accepts():
    m = build_world_model("rae", 5, hidden=64)
    assert m.encoder[0].out_features == 64
    for key in WorldModelConfig.__dataclass_fields__:
        if key in ("name", "batch_size"):
            continue
        users = [n for n in NAMES if key in table.spec(n).uses]
        assert users, f"config key world_model.{key} is read by no model"
        default = getattr(WorldModelConfig(), key)
        build_world_model(users[0], 3, **{key: list(default) if isinstance(default, tuple) else default})


def test_config_and_library_report_the_same_bad_value():
    with pytest.raises(ConfigError, match=r"world_model.passes=0 is invalid: expected an integer >= 1"):
        build(Config, {"world_model": {"passes": 0}})
    with pytest.raises(ValueError, match=r"passes=0 is invalid for world model 'rae': expected an integer >= 1"):
        build_world_model("rae", 3, passes=0)
    with pytest.raises(ValueError, match=r"unknown argument.*'pases'.*did you mean 'passes'"):
        build_world_model("rae", 3, pases=2)
    with pytest.raises(ValueError, match=r"'obs_var'.*option of vae"):
        build_world_model("rae", 3, obs_var=0.2)


def test_docs_and_defaults_come_from_the_table():
    docs = field_docs()
    section = to_dict(WorldModelConfig())
    for key, opt in table.OPTIONS.items():
        assert docs[f"world_model.{key}"] == opt.doc
        assert section[key] == (list(opt.default) if isinstance(opt.default, tuple) else opt.default)
    assert docs["world_model.name"].endswith(", ".join(NAMES) + ".")


class TinyRAE(RAE):
    """A variant registered by a test: the RAE with its code noise doubled."""

    def __init__(self, input_dim: int, *, device: str = "cpu", **options) -> None:
        super().__init__(input_dim, device=device, **options)
        self.sigma *= 2


def test_a_new_model_is_one_row_and_every_path_knows_it():
    spec = table.ModelSpec(f"{__name__}:TinyRAE", table.WORLD_MODELS["rae"].uses, "test variant", chain=True)
    table.register_world_model("rae_tiny", spec)
    try:
        with pytest.raises(ValueError, match="already registered"):
            table.register_world_model("rae_tiny", table.ModelSpec("x:Y", ()))
        cfg = build(Config, {"world_model": {"name": "rae_tiny", "passes": 2}})
        env = envs.make("freeenergy/GridMaze-v0", 2, "cpu")
        model = make_world(cfg, env, torch.device("cpu"), torch.Generator().manual_seed(0)).model
        assert isinstance(model, TinyRAE) and model.passes == 2 and model.sigma == pytest.approx(0.2)
        assert isinstance(novelty_run.build_model(cfg, 8, "cpu"), TinyRAE)
    finally:
        table.WORLD_MODELS.pop("rae_tiny")
    with pytest.raises(ConfigError, match="world_model.name='rae_tiny'"):
        build(Config, {"world_model": {"name": "rae_tiny"}})


def test_weighted_loss_is_the_weighted_mean_and_gan_steps_both_networks():
    torch.manual_seed(0)
    x = torch.randn(16, 3)
    w = torch.rand(16) + 0.5
    m = build_world_model("ae", 3, hidden=8)
    per, _ = m.per_sample_loss(x)
    total, _ = m.loss(x, w)
    assert total.item() == pytest.approx(float((per * w / w.mean()).mean().detach()), rel=1e-5)
    gan = build_world_model("gan", 3, hidden=8, search_steps=2)
    before = {k: v.clone() for k, v in gan.state_dict().items()}
    gan.fit_step(x, w)
    changed = {k.split(".")[0] for k, v in gan.state_dict().items() if not torch.equal(before[k], v)}
    assert changed == {"generator", "discriminator"}
    state = gan.optimiser_state_dict()
    assert set(state) == {"generator", "discriminator"}
    other = build_world_model("gan", 3, hidden=8, search_steps=2)
    other.load_optimiser_state_dict(state)


def test_files_saved_before_the_table_still_load(tmp_path):
    new = build_world_model("dae", 3, hidden=[16], code_dim=4, passes=2)
    legacy = {"input_dim": 3, "code_dim": 4, "hidden": [16], "corruption": 0.5, "walkback": 2, "lam": 0.03,
              "activation": "relu", "code_activation": "linear", "output_activation": "linear",
              "prior": "normal", "sample_steps": 20, "complete_steps": 5, "lr": 1e-3}
    path = tmp_path / "old.pt"
    torch.save({"class": "WalkbackDAE", "kwargs": legacy, "state_dict": new.state_dict()}, path)
    loaded = load_world_model(path)
    assert loaded.walkback == 2 and loaded.lam == pytest.approx(0.03)
    assert all(torch.equal(a, b) for a, b in zip(loaded.parameters(), new.parameters()))
