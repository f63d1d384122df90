"""One overall progress figure across seeds and parts, with lines for logs that are not a terminal."""
from __future__ import annotations

import json

from experiments import cli, kinds
from experiments.io.progress import Overall
from toy_experiment import TOY_KIND


def test_overall_fraction_and_eta_line(monkeypatch):
    monkeypatch.setenv("FREEENERGY_PROGRESS_SECONDS", "30")
    o = Overall()
    o.begin(4, quiet=True)
    o.part_done()
    o.update(0.5, "train rae 5/10")
    assert o.fraction == 0.375
    line = o.line()
    assert line.startswith("freeenergy: progress 38% (part 2/4, train rae 5/10), elapsed") and "ETA" in line


def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(kinds.RUN_KINDS, "agent", TOY_KIND)
    monkeypatch.setenv("FREEENERGY_PROGRESS_SECONDS", "0.000001")
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(json.dumps({"config": {"run": {"kind": "agent", "steps": 20, "seeds": [0, 1]},
                                          "logging": {"interval": 5, "map_interval": 100, "wandb": "disabled"}}}))
    assert cli.main(["run", str(cfg), "--out", str(tmp_path / "r")]) == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("freeenergy: progress")]
    assert any("part 1/2" in ln for ln in lines) and any("part 2/2" in ln for ln in lines)
    assert lines[-1].startswith("freeenergy: progress 100%")
    assert cli.main(["run", str(cfg), "--out", str(tmp_path / "q"), "--quiet"]) == 0
    assert "freeenergy: progress" not in capsys.readouterr().err
