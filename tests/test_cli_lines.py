"""What the command line says: a full disk, Ctrl-C, `show preset=NAME`, the sweeps in `presets`,
a resumed progress bar, and no W&B banner about LLM tracing."""
from __future__ import annotations

import errno
import json
import os

from toy_runs import cli_run, toy_yaml

from experiments import context
from experiments.cli import main


def test_a_full_disk_is_one_line_status_failed_and_the_last_checkpoint_kept(tmp_path, toy_kind, capsys,
                                                                           monkeypatch):
    real, calls = context.write_new, {"ckpt": 0}

    def full_after_one_checkpoint(path, data, sync=False):
        if path.name.endswith("checkpoint.pt"):
            calls["ckpt"] += 1
            if calls["ckpt"] > 1:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data, sync)
    monkeypatch.setattr(context, "write_new", full_after_one_checkpoint)
    run_dir = tmp_path / "r"
    code, _, err = cli_run(["run", str(toy_yaml(tmp_path)), "--out", str(run_dir)], capsys)
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("freeenergy: run failed: disk full") and f"freeenergy resume {run_dir}" in err
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "failed" and status["error"].startswith("disk full") and "traceback" not in status
    import torch

    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["step"] == 9  # the first one, intact
    monkeypatch.setattr(context, "write_new", real)  # space again
    code, _, err = cli_run(["resume", str(run_dir)], capsys)
    assert code == 0, err


def test_status_is_written_in_place_when_even_its_temp_copy_finds_no_room(tmp_path, toy_kind, capsys,
                                                                         monkeypatch):
    real, calls = context.write_new, {"ckpt": 0}

    def full(path, data, sync=False):
        calls["ckpt"] += path.name.endswith("checkpoint.pt")
        if calls["ckpt"] > 1:  # from the second checkpoint on, nothing new can be written
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data, sync)
    monkeypatch.setattr(context, "write_new", full)
    code, _, err = cli_run(["run", str(toy_yaml(tmp_path)), "--out", str(tmp_path / "r")], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "disk full" in err, err
    assert json.loads((tmp_path / "r" / "status.json").read_text())["status"] == "failed"


def test_ctrl_c_says_what_happened_and_how_to_resume(tmp_path, toy_kind, capsys, monkeypatch):
    monkeypatch.setenv("TOY_INTERRUPT_AT", "23")
    run_dir = tmp_path / "r"
    code, _, err = cli_run(["run", str(toy_yaml(tmp_path)), "--out", str(run_dir)], capsys)
    (line,) = err.strip().splitlines()
    assert code == 130 and line.startswith("freeenergy: interrupted (Ctrl-C): the run stopped")
    assert line.endswith(f"`freeenergy resume {run_dir}`")


def test_show_takes_the_preset_equals_form(capsys):
    assert main(["show", "preset=maze-afe", "run.steps=7"]) == 0
    assert "steps: 7" in capsys.readouterr().out


def test_presets_lists_the_bundled_sweeps(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    sweeps = out.split("sweeps (freeenergy sweep NAME):")[1]
    assert "sweep-exploration" in sweeps and "Multi-room maze coverage" in sweeps


def test_a_resumed_progress_bar_counts_from_where_the_run_is(tmp_path, capsys, monkeypatch):
    from experiments.io import progress

    seen = []
    real = progress.PartBar.__init__

    def spy(self, *a, **kw):
        seen.append((kw.get("total"), kw.get("initial", 0)))
        real(self, *a, **kw)
    monkeypatch.setattr(progress.PartBar, "__init__", spy)
    run_dir = tmp_path / "r"
    args = ["run", "maze-random", "--debug", "logging.wandb=disabled", "--quiet", "run.steps=12",
            "run.checkpoint_every=8", "--out", str(run_dir)]
    assert cli_run(args, capsys)[0] == 0
    (run_dir / "summary.json").unlink()
    import yaml

    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    cfg["run"]["steps"] = 20
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert cli_run(["resume", str(run_dir), "--quiet"], capsys)[0] == 0
    assert seen == [(12, 0), (20, 12)]


def test_no_weave_banner_on_a_wandb_run(tmp_path, toy_kind, capfd, monkeypatch):
    import agents  # noqa: F401 -- W&B takes a loaded module named 'agents' for an LLM library

    monkeypatch.delenv("WANDB_SILENT", raising=False)
    monkeypatch.delenv("WANDB_DISABLE_WEAVE", raising=False)
    code = main(["run", str(toy_yaml(tmp_path, logging={"wandb": "offline"})), "--out", str(tmp_path / "r")])
    out, err = capfd.readouterr()
    assert code == 0, err
    assert "Weave" not in out + err and os.environ.get("WANDB_DISABLE_WEAVE")


def test_the_license_is_an_spdx_string_that_setuptools_reads_without_a_warning():
    from pathlib import Path

    import pytest

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    data = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert data["project"]["license"] == "MIT"  # a TOML table here is deprecated (printed at every set-up)
    pins = [r for r in data["build-system"]["requires"] if r.startswith("setuptools")]
    assert pins == ["setuptools>=77"]  # the first setuptools that reads an SPDX string


def test_the_quickstart_time_is_said_one_way_everywhere():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    files = [root / "README.md", *sorted((root / "docs").glob("**/*.md")), root / "experiments/presets/quickstart.yaml",
             root / "experiments/kinds/quickstart.py"]
    pattern = re.compile(r"~\s?\d+\s?(s|sec|min)\b|about (a|\d+) (minute|min|s|seconds)\b|under a minute")
    said = {m.group(0) for f in files for line in f.read_text().splitlines() if "quickstart" in line.lower()
            or f.name.startswith("quickstart") for m in pattern.finditer(line)}
    assert said == {"under a minute"}, said
