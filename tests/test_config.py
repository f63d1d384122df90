"""Typed config, presets (base, debug), dotted overrides and their errors."""
from __future__ import annotations

import dataclasses

import pytest
import yaml

from experiments.config import Config, ConfigError, build, field_docs, field_table, from_dict, presets, to_dict


@pytest.fixture
def preset_dir(tmp_path, monkeypatch):
    """A private preset folder: parent <- child, plus a broken one."""
    (tmp_path / "parent.yaml").write_text(yaml.safe_dump({
        "description": "the parent",
        "config": {"run": {"steps": 500, "seed": 3}, "env": {"num_envs": 8, "kwargs": {"size": 5}}},
        "debug": {"run": {"steps": 20}},
    }))
    (tmp_path / "child.yaml").write_text(yaml.safe_dump({
        "description": "the child",
        "base": "parent",
        "config": {"env": {"kwargs": {"noise": 0.5}}, "logging": {"wandb": "disabled"}},
        "debug": {"env": {"num_envs": 2}},
    }))
    (tmp_path / "loop.yaml").write_text("base: loop\nconfig: {}\n")
    monkeypatch.setattr(presets, "PRESET_DIR", tmp_path)
    return tmp_path


def test_defaults_build_and_round_trip():
    cfg = Config()
    assert from_dict(to_dict(cfg)) == cfg
    # YAML round trip, as in a run folder's config.yaml
    assert from_dict(yaml.safe_load(yaml.safe_dump(to_dict(cfg)))) == cfg


def test_config_is_frozen():
    cfg = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.run.seed = 5  # type: ignore[misc]


def test_every_field_is_documented():
    docs = field_docs()
    assert {"run.seed", "env.id", "env.num_envs", "env.device", "env.kwargs", "env.map_xy",
            "logging.wandb", "logging.project", "logging.entity", "logging.group", "logging.tags"} <= set(docs)
    undocumented = [k for k, text in docs.items() if len(text) < 8]
    assert not undocumented, f"fields without a docstring: {undocumented}"
    table = {k: (t, d) for k, t, d, _ in field_table()}
    assert table["run.seeds"][0] == "tuple[int, ...]" and table["env.num_envs"] == ("int", 16)


def test_base_inheritance_debug_and_override_order(preset_dir):
    cfg = presets.resolve("child")
    assert cfg.run.steps == 500 and cfg.run.seed == 3 and cfg.env.num_envs == 8
    assert cfg.env.kwargs == {"size": 5, "noise": 0.5}  # mappings merge key by key
    assert cfg.run.name == "child" and cfg.logging.wandb == "disabled"
    dbg = presets.resolve("child", debug=True)
    assert dbg.run.steps == 20 and dbg.env.num_envs == 2  # debug of parent and of child
    over = presets.resolve("child", ["run.steps=7", "env.kwargs.size=9"], debug=True)
    assert over.run.steps == 7 and over.env.kwargs == {"size": 9, "noise": 0.5}  # overrides win over debug
    assert presets.describe("child") == "the child"


def test_overrides_parse_as_yaml(preset_dir):
    cfg = presets.resolve("parent", ["env.map_xy=[0,1]", "env.num_envs=256", "logging.tags=[a, b]",
                                     "world_model.lr=1e-4", "run.steps=1e3", "logging.quiet=true",
                                     "env.kwargs={layout: fourrooms}"])
    assert cfg.env.map_xy == [0, 1] and cfg.env.num_envs == 256
    assert cfg.logging.tags == ("a", "b") and cfg.logging.quiet is True
    assert cfg.world_model.lr == pytest.approx(1e-4) and cfg.run.steps == 1000
    assert cfg.env.kwargs == {"size": 5, "layout": "fourrooms"}  # a mapping override merges


def test_user_yaml_file_bare_and_with_base(preset_dir, tmp_path):
    bare = tmp_path / "mine.yaml"
    bare.write_text("run: {steps: 42}\nenv: {id: 'mypkg.envs:MyEnv', map_xy: 'mypkg.envs:xy'}\n")
    cfg = presets.resolve(str(bare))
    assert cfg.run.steps == 42 and cfg.env.id == "mypkg.envs:MyEnv" and cfg.run.name == "mine"
    derived = tmp_path / "derived.yaml"
    derived.write_text("base: parent\nconfig: {run: {seed: 11}}\n")
    cfg = presets.resolve(str(derived))
    assert cfg.run.seed == 11 and cfg.run.steps == 500


@pytest.mark.parametrize("overrides, words", [
    (["run.stpes=5"], ["run.stpes", "Did you mean 'steps'"]),
    (["enviroment.id=x"], ["unknown config key 'enviroment'", "Valid keys here", "env"]),
    (["run.steps=abc"], ["run.steps", "'abc'", "integer"]),
    (["run.steps=2.5"], ["run.steps", "2.5", "integer"]),
    (["env.num_envs=0"], ["env.num_envs", "0", ">= 1"]),
    (["logging.wandb=sometimes"], ["logging.wandb", "'sometimes'", "'offline'", "'disabled'"]),
    (["env.map_xy=[0]"], ["env.map_xy", "[0]", "two observation indices"]),
    (["run.seed=-1"], ["run.seed", "-1", ">= 0"]),
    (["logging.quiet=maybe"], ["logging.quiet", "maybe", "true or false"]),
    (["env.kwargs=5"], ["env.kwargs", "5", "mapping"]),
    (["run.steps"], ["run.steps", "section.key=value"]),
    (["run=3"], ["run", "mapping"]),
    (["world_model.lr=2"], ["world_model.lr", "2", "(0, 1)"]),
])
def test_bad_values_name_key_value_and_what_is_valid(preset_dir, overrides, words):
    with pytest.raises(ConfigError) as info:
        presets.resolve("parent", overrides)
    msg = str(info.value)
    for word in words:
        assert word in msg, f"{word!r} missing from: {msg}"


def test_unknown_preset_suggests_closest(preset_dir):
    with pytest.raises(ConfigError, match=r"unknown preset 'chidl'.*Did you mean 'child'.*Available: child, loop"):
        presets.resolve("chidl")


def test_preset_inheriting_from_itself(preset_dir):
    with pytest.raises(ConfigError, match="inherits from itself"):
        presets.resolve("loop")


def test_malformed_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("config:\n  run: {kind: agent, steps: 5\n  env: {}\n")
    with pytest.raises(ConfigError) as info:
        presets.resolve(str(bad))
    assert "malformed YAML" in str(info.value) and "bad.yaml" in str(info.value) and "line" in str(info.value)


def test_yaml_that_is_not_a_mapping(tmp_path):
    bad = tmp_path / "list.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        presets.resolve(str(bad))


def test_misspelt_top_level_preset_key(tmp_path):
    bad = tmp_path / "typo.yaml"
    bad.write_text("description: x\nconfig: {}\ndebgu: {run: {steps: 3}}\n")
    with pytest.raises(ConfigError, match=r"unknown top-level key 'debgu'.*Did you mean 'debug'"):
        presets.resolve(str(bad))


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        presets.resolve(str(tmp_path / "nope.yaml"))


def test_yaml_is_loaded_safely(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("config: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="malformed YAML"):
        presets.resolve(str(evil))


def test_build_rejects_nested_unknown_section():
    with pytest.raises(ConfigError, match="unknown config key 'wolrd_model'.*'world_model'"):
        build(Config, {"wolrd_model": {}})


def test_every_bundled_preset_resolves_full_and_debug():
    names = presets.preset_names()
    assert "quickstart" in names
    for name in names:
        full = presets.resolve(name)
        small = presets.resolve(name, debug=True)
        assert full.run.name == name and small.run.name == name
        assert presets.describe(name), f"preset {name} has no description"
