"""The command line: run, presets, show, resume; ``python -m experiments`` is the same."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from experiments import cli
from experiments.config import field_docs

ROOT = Path(__file__).resolve().parents[1]


def test_python_dash_m_lists_presets_and_shows_config():
    out = subprocess.run([sys.executable, "-m", "experiments", "presets"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    line = next(l for l in out.stdout.splitlines() if l.strip().startswith("quickstart "))
    assert "Dark room" in line
    out = subprocess.run([sys.executable, "-m", "experiments", "show", "quickstart", "run.seed=4"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    cfg = yaml.safe_load(out.stdout)
    assert cfg["run"]["kind"] == "quickstart" and cfg["run"]["seed"] == 4
    out = subprocess.run([sys.executable, "-m", "experiments", "show", "quickstart", "run.sed=4"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 2 and "Did you mean 'seed'" in out.stderr and "Traceback" not in out.stderr


def test_show_docs_lists_every_key_with_type_and_doc(capsys):
    assert cli.main(["show", "quickstart", "--docs", "env.num_envs=3"]) == 0
    out = capsys.readouterr().out
    for key in field_docs():
        assert f"  {key} = " in out
    assert "env.num_envs = 3   [int]   (default 16)" in out
    assert "[logging]" in out and "Weights & Biases mode" in out


def test_show_debug_applies_debug_overrides(capsys):
    assert cli.main(["show", "quickstart", "--debug"]) == 0
    small = yaml.safe_load(capsys.readouterr().out)
    assert cli.main(["show", "quickstart"]) == 0
    full = yaml.safe_load(capsys.readouterr().out)
    assert small["quickstart"]["sub_debug"] and not full["quickstart"]["sub_debug"]


def test_run_prints_where_things_are_and_names_the_folder(tmp_path, toy_kind, capsys):
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(yaml.safe_dump({"config": {
        "run": {"kind": "agent", "steps": 20, "out_root": str(tmp_path / "runs")},
        "env": {"id": "freeenergy/GridMaze-v0"},
        "logging": {"interval": 5, "map_interval": 10, "wandb": "disabled"}}}))
    assert cli.main(["run", str(cfg), "run.seed=7", "--quiet"]) == 0
    out = capsys.readouterr().out
    (run_dir,) = list((tmp_path / "runs").iterdir())
    assert re.fullmatch(r"GridMaze-v0__toy__7__\d{8}-\d{6}", run_dir.name)
    assert f"run folder: {run_dir}" in out and f"summary:    {run_dir / 'summary.json'}" in out
    assert str(run_dir / "maps" / "exploration.png") in out
    assert str(run_dir / "coverage.png") in out  # drawn by the runner from explore/coverage rows
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["run"]["seed"] == 7 and saved["run"]["name"] == "toy"
    assert json.loads((run_dir / "summary.json").read_text())["seed"] == 7
    # a second run in the same second gets its own folder
    assert cli.main(["run", str(cfg), "run.seed=7", "--quiet"]) == 0
    assert len(list((tmp_path / "runs").iterdir())) == 2


def test_progress_bar_quiet_without_tty(tmp_path, toy_kind, capsys):
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(yaml.safe_dump({"config": {"run": {"kind": "agent", "steps": 10},
                                              "logging": {"wandb": "disabled", "map_interval": 100}}}))
    assert cli.main(["run", str(cfg), "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert "toy:" not in err and "it/s" not in err  # captured stderr is not a TTY


def test_help_mentions_every_command(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in ("run", "presets", "show", "resume", "entry point"):
        assert word in out


def test_quickstart_composes_sub_runs_and_resumes_them(tmp_path, toy_kind, capsys, monkeypatch):
    """The quickstart machinery on two toy presets: sub-folders, side-by-side figure,
    combined summary; an interrupt in the second sub-run resumes without redoing the first."""
    from experiments.config import presets

    for name in ("toy-a", "toy-b"):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump({
            "description": name, "config": {"run": {"kind": "agent", "steps": 400, "checkpoint_every": 10},
                                            "logging": {"interval": 5, "map_interval": 10}}}))
    (tmp_path / "quickstart.yaml").write_text(yaml.safe_dump({
        "description": "qs", "config": {
            "run": {"kind": "quickstart"}, "logging": {"wandb": "disabled"},
            "quickstart": {"runs": ["toy-a", "toy-b"],
                           "overrides": {"*": {"run": {"steps": 30}}, "toy-b": {"run": {"steps": 20}}}}}}))
    monkeypatch.setattr(presets, "PRESET_DIR", tmp_path)
    out_dir = tmp_path / "qs"
    monkeypatch.setenv("TOY_INTERRUPT_AT", "13")  # both sub-runs pass step 13: the first one stops
    assert cli.main(["run", "quickstart", "--out", str(out_dir), "--quiet"]) == 130
    assert json.loads((out_dir / "status.json").read_text())["status"] == "interrupted"
    assert json.loads((out_dir / "toy-a" / "status.json").read_text())["status"] == "interrupted"
    assert not (out_dir / "summary.json").exists() and not (out_dir / "toy-b").exists()
    monkeypatch.delenv("TOY_INTERRUPT_AT")
    capsys.readouterr()
    first_rows = (out_dir / "toy-a" / "metrics.jsonl").read_text()
    assert cli.main(["resume", str(out_dir), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert (out_dir / "toy-a" / "metrics.jsonl").read_text().startswith(first_rows)  # continued, not redone
    assert json.loads((out_dir / "toy-a" / "status.json").read_text())["resumed_from_step"] == 12
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["runs"]["toy-a"]["coverage"] == json.loads(
        (out_dir / "toy-a" / "summary.json").read_text())["coverage"]
    assert json.loads((out_dir / "toy-b" / "summary.json").read_text())["steps"] == 20
    assert (out_dir / "quickstart.png").stat().st_size > 5000 and (out_dir / "coverage.png").exists()
    assert f"side by side figure: {out_dir / 'quickstart.png'}" in out
    assert f"summary:    {out_dir / 'summary.json'}" in out
    assert yaml.safe_load((out_dir / "toy-b" / "config.yaml").read_text())["logging"]["wandb"] == "disabled"


def test_quickstart_debug_runs_the_real_presets(tmp_path, capsys):
    out_dir = tmp_path / "qs"
    assert cli.main(["run", "quickstart", "--debug", "logging.wandb=disabled", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    summary = json.loads((out_dir / "summary.json").read_text())
    assert set(summary["runs"]) == {"darkroom-fe", "darkroom-afe", "maze-afe"}
    for key in ("darkroom_fe_dark_fraction", "darkroom_afe_dark_fraction", "maze_afe_coverage"):
        assert 0.0 <= summary[key] <= 1.0
    for name in summary["runs"]:
        assert (out_dir / name / "summary.json").exists() and (out_dir / name / "exploration_map.png").exists()
    assert "dark room: the surprise minimiser spent" in out and "quickstart.png" in out
