"""Config input that used to run silently wrong: an empty file, a key twice, both seed forms,
a name too long for a folder, a base: cycle through another folder; each is one line (exit 2)."""
from __future__ import annotations

import pytest

from experiments.cli import main
from experiments.config import ConfigError, presets


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("freeenergy: error:") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n"])
def test_an_empty_config_file_is_refused(tmp_path, capsys, text):
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    for extra in ([], ["--debug"]):
        assert main(["run", str(path), "--out", str(tmp_path / "r"), *extra]) == 2
        assert "is empty" in _one_line(capsys)
    assert not (tmp_path / "r").exists()


def test_debug_without_a_debug_section_is_refused(tmp_path, capsys):
    path = tmp_path / "bare.yaml"
    path.write_text("run: {steps: 7}\n")
    assert main(["show", str(path), "--debug"]) == 2
    assert "--debug has no effect" in _one_line(capsys)
    assert presets.resolve(str(path)).run.steps == 7
    assert presets.resolve("darkroom-afe", debug=True).run.steps < presets.resolve("darkroom-afe").run.steps


def test_every_bundled_preset_has_a_debug_size():
    for name in presets.preset_names():
        assert presets.load_preset(name)[2], f"{name} has no debug: section (nor a base with one)"


@pytest.mark.parametrize("text, key, line", [
    ("config:\n  run: {steps: 5}\n  run: {steps: 9}\n", "run", 3),
    ("config:\n  run:\n    steps: 5\n    seed: 1\n    steps: 9\n", "steps", 5),
    ("config: {agent: {type: afe, type: fe}}\n", "type", 1),
])
def test_a_key_given_twice_is_refused_with_its_line(tmp_path, text, key, line):
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        presets.resolve(str(path))
    msg = str(info.value)
    assert f"duplicate key {key!r}" in msg and f"line {line}" in msg and "dup.yaml" in msg


def test_a_key_twice_in_an_override_is_refused():
    with pytest.raises(ConfigError, match="duplicate key 'steps'"):
        presets.resolve("maze-afe", ["agent.ppo={steps: 1, steps: 2}"])


def test_merge_keys_may_still_be_overridden(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text("base_run: &b {steps: 5, seed: 1}\nconfig:\n  run: {<<: *b, steps: 9}\n")
    with pytest.raises(ConfigError, match="unknown top-level key 'base_run'"):
        presets.resolve(str(path))  # the anchor's home is not a config key; the merge itself parsed


def test_seed_and_seeds_both_on_the_command_line_are_refused(tmp_path, capsys):
    assert main(["run", "maze-afe", "run.seeds=[0,1]", "run.seed=5", "--out", str(tmp_path / "r")]) == 2
    msg = _one_line(capsys)
    assert "run.seed=5" in msg and "run.seeds=[0, 1]" in msg
    assert not (tmp_path / "r").exists()


def test_a_run_name_too_long_for_a_folder_is_refused(capsys):
    assert main(["show", "maze-afe", f"run.name={'n' * 5000}"]) == 2
    msg = _one_line(capsys)
    assert "run.name" in msg and "5000 characters" in msg and "at most 100" in msg and len(msg) < 300


def test_a_base_cycle_through_another_folder_is_found_by_path(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "maze.yaml").write_text("base: ../b/maze.yaml\nconfig: {run: {steps: 5}}\n")
    (tmp_path / "b" / "maze.yaml").write_text("base: maze-afe\nconfig: {run: {steps: 6}}\n")
    assert presets.resolve(str(tmp_path / "a" / "maze.yaml")).run.steps == 5  # same file name, no cycle
    (tmp_path / "b" / "maze.yaml").write_text("base: ../a/maze.yaml\nconfig: {run: {steps: 6}}\n")
    with pytest.raises(ConfigError, match="inherits from itself"):
        presets.resolve(str(tmp_path / "a" / "maze.yaml"))
