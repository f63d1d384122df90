"""Data a user must never lose: the tool deletes or overwrites only files it wrote itself, for
the run it is running; every run kind checkpoints and resumes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch
import yaml
from toy_runs import TOY, cli_run, toy_yaml

from experiments import runner
from experiments.io import run_folder
from experiments.io.logger import read_metrics


def one_line_error(err: str) -> bool:
    return err.startswith("freeenergy: error:") and "Traceback" not in err and len(err.strip().splitlines()) == 1


def comparable(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if not runner.is_timing_key(k)}


# ------------------------------------------------------------------ ownership


def test_overwrite_keeps_the_users_own_data_in_the_folder(tmp_path, toy_kind, capsys):
    run_dir = tmp_path / "r"
    assert cli_run(["run", str(toy_yaml(tmp_path)), "--out", str(run_dir)], capsys)[0] == 0
    (run_dir / "data.npy").write_bytes(b"user data")  # e.g. data.path pointing into the run folder
    (run_dir / "notes.png").write_bytes(b"user figure")
    (run_dir / "sub").mkdir()
    (run_dir / "sub" / "keep.txt").write_text("mine")
    code, _, err = cli_run(["run", str(toy_yaml(tmp_path)), "--out", str(run_dir), "--overwrite"], capsys)
    assert code == 0, err
    assert (run_dir / "data.npy").read_bytes() == b"user data"
    assert (run_dir / "notes.png").read_bytes() == b"user figure"
    assert (run_dir / "sub" / "keep.txt").read_text() == "mine"
    assert "data.npy" not in run_folder.written(run_dir)
    assert {"config.yaml", "metrics.jsonl", "summary.json", "checkpoint.pt"} <= set(run_folder.written(run_dir))


def test_out_into_a_folder_that_is_not_a_run_folder_is_refused(tmp_path, toy_kind, capsys):
    user = tmp_path / "mine"
    user.mkdir()
    for name, data in (("summary.json", b"{}"), ("checkpoint.pt", b"mine"), ("metrics.jsonl", b'{"a": 1}\n')):
        (user / name).write_bytes(data)
    for extra in ([], ["--overwrite"]):
        code, _, err = cli_run(["run", str(toy_yaml(tmp_path)), "--out", str(user), *extra], capsys)
        assert code == 2 and one_line_error(err) and "not a freeenergy run folder" in err
    assert (user / "summary.json").read_bytes() == b"{}" and (user / "checkpoint.pt").read_bytes() == b"mine"
    assert (user / "metrics.jsonl").read_bytes() == b'{"a": 1}\n'
    assert sorted(p.name for p in user.iterdir()) == ["checkpoint.pt", "metrics.jsonl", "summary.json"]
    empty = tmp_path / "empty"
    empty.mkdir()  # an empty folder is fine
    assert cli_run(["run", str(toy_yaml(tmp_path)), "--out", str(empty)], capsys)[0] == 0


def test_empty_out_is_refused(tmp_path, toy_kind, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli_run(["run", str(toy_yaml(tmp_path)), "--out", ""], capsys)
    assert code == 2 and one_line_error(err) and "--out ''" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.yaml"]


def test_symlinked_metrics_file_is_not_followed(tmp_path, toy_kind, capsys):
    run_dir = tmp_path / "r"
    assert cli_run(["run", str(toy_yaml(tmp_path)), "--out", str(run_dir)], capsys)[0] == 0
    (run_dir / "summary.json").unlink()
    target = tmp_path / "precious.jsonl"
    target.write_text("precious\n")
    (run_dir / "metrics.jsonl").unlink()
    (run_dir / "metrics.jsonl").symlink_to(target)
    code, _, err = cli_run(["resume", str(run_dir)], capsys)
    assert code == 2 and one_line_error(err) and "symbolic link" in err
    assert target.read_text() == "precious\n"


def test_second_run_into_a_locked_folder_is_refused(tmp_path, toy_kind, capsys):
    import fcntl

    run_dir = tmp_path / "r"
    run_dir.mkdir()
    fd = os.open(run_dir / run_folder.LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another process's lock (a separate open file)
    try:
        code, _, err = cli_run(["run", str(toy_yaml(tmp_path)), "--out", str(run_dir)], capsys)
        assert code == 2 and one_line_error(err) and "in use by another freeenergy process" in err
        assert not (run_dir / "config.yaml").exists() and not (run_dir / "metrics.jsonl").exists()
    finally:
        os.close(fd)
    assert cli_run(["run", str(toy_yaml(tmp_path)), "--out", str(run_dir)], capsys)[0] == 0


def test_two_processes_into_one_folder_one_is_refused(tmp_path):
    cfg = toy_yaml(tmp_path)
    env = {**os.environ, "TOY_SLEEP": "0.3"}
    args = [sys.executable, str(TOY), "run", str(cfg), "--out", str(tmp_path / "r"), "--quiet"]
    first = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    args = args + ["--overwrite"]  # even told to replace it, it must not touch a folder in use
    deadline = time.time() + 60
    while not (tmp_path / "r" / "metrics.jsonl").exists() and time.time() < deadline:
        time.sleep(0.05)
    second = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    first.communicate(timeout=120)
    assert first.returncode == 0
    assert first.poll() is not None and second.returncode == 2
    assert "in use by another freeenergy process" in second.stderr
    assert [r["step"] for r in read_metrics(tmp_path / "r" / "metrics.jsonl")] == list(range(0, 40, 5))


def test_temp_names_are_unique_per_thread_and_process(tmp_path):
    names: set[str] = set()
    threads = [threading.Thread(target=lambda: names.add(run_folder.temp_name(tmp_path / "x.png").name))
               for _ in range(4)]
    for t in threads:
        t.start()
        t.join()
    assert len(names) == 4 and all(str(os.getpid()) in n for n in names)


# ------------------------------------------------------------------ seeds and resume


def test_run_seed_given_replaces_the_presets_seeds(tmp_path, toy_kind, capsys):
    cfg = toy_yaml(tmp_path, run={"seeds": [0, 1]})
    code, _, err = cli_run(["run", str(cfg), "run.seed=5", "--out", str(tmp_path / "r")], capsys)
    assert code == 0, err
    assert "run.seed=5 replaces the preset's run.seeds=[0, 1]" in err
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["seed"] == 5
    assert not (tmp_path / "r" / "seed_0").exists()


def test_resume_with_an_edited_config_is_refused(tmp_path, toy_kind, capsys, monkeypatch):
    monkeypatch.setenv("TOY_INTERRUPT_AT", "23")
    run_dir = tmp_path / "r"
    assert cli_run(["run", str(toy_yaml(tmp_path)), "--out", str(run_dir)], capsys)[0] == 130
    monkeypatch.delenv("TOY_INTERRUPT_AT")
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    cfg["env"]["num_envs"] = 99
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg))
    code, _, err = cli_run(["resume", str(run_dir)], capsys)
    assert code == 2 and one_line_error(err) and "env.num_envs is 99" in err and "16" in err
    cfg["env"]["num_envs"] = 16
    cfg["run"]["steps"] = 45  # a longer run and other logging are fine
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg))
    code, _, err = cli_run(["resume", str(run_dir)], capsys)
    assert code == 0, err


def test_killed_before_first_checkpoint_truthful_status_and_working_advice(tmp_path):
    cfg = toy_yaml(tmp_path, run={"checkpoint_every": 0})
    run_dir = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, str(TOY), "run", str(cfg), "--out", str(run_dir), "--quiet"],
                            env={**os.environ, "TOY_SLEEP": "0.2"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not read_metrics(run_dir / "metrics.jsonl") and time.time() < deadline:
        time.sleep(0.05)
    (run_dir / ".freeenergy-tmp-999-1-summary.json").write_text("torn")  # as a kill -9 mid-write leaves it
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert json.loads((run_dir / "status.json").read_text())["status"] == "running"
    res = subprocess.run([sys.executable, str(TOY), "resume", str(run_dir)], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 2 and "Traceback" not in res.stderr and "--overwrite" in res.stderr
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "killed"
    assert not list(run_dir.glob(".freeenergy-tmp-*"))
    advice = res.stderr.split("`")[1].split()
    assert advice[:2] == ["freeenergy", "run"]
    res = subprocess.run([sys.executable, str(TOY), *advice[1:], "--quiet"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads((run_dir / "status.json").read_text())["status"] == "complete"


# ------------------------------------------------------------------ every kind resumes


def _interrupt_once(monkeypatch, module, name: str, after: int) -> None:
    """Make ``module.name`` raise Ctrl-C on its ``after``-th call (counting from 1), once."""
    real, calls = getattr(module, name), {"n": 0}

    def wrapper(*a, **kw):
        calls["n"] += 1
        if calls["n"] == after:
            raise KeyboardInterrupt
        return real(*a, **kw)
    monkeypatch.setattr(module, name, wrapper)


@pytest.mark.parametrize("preset, module, fn, after, extra", [
    ("generative-parabola", "experiments.kinds.generative", "_one_model", 3, ["generative.models=[rae,ae,vae]"]),
    ("novelty-waves", "experiments.kinds.novelty", "reconstruction_error", 4, ["novelty.rounds=2"]),
    ("umbrella-muller-brown", "experiments.kinds.umbrella", "sample", 2, ["run.steps=120"]),
])
def test_every_kind_checkpoints_on_ctrl_c_and_resumes_to_the_same_result(tmp_path, capsys, monkeypatch, preset,
                                                                          module, fn, after, extra):
    import importlib

    mod = importlib.import_module(module)
    args = ["run", preset, "--debug", "logging.wandb=disabled", "--quiet", *extra]
    assert cli_run(args + ["--out", str(tmp_path / "ref")], capsys)[0] == 0
    reference = json.loads((tmp_path / "ref" / "summary.json").read_text())
    ref_rows = read_metrics(tmp_path / "ref" / "metrics.jsonl")

    _interrupt_once(monkeypatch, mod, fn, after)
    run_dir = tmp_path / "r"
    code, _, err = cli_run(args + ["--out", str(run_dir)], capsys)
    assert code == 130 and f"freeenergy resume {run_dir}" in err
    assert (run_dir / "checkpoint.pt").exists()
    code, _, err = cli_run(["resume", str(run_dir), "--quiet"], capsys)
    assert code == 0, err
    resumed = json.loads((run_dir / "summary.json").read_text())
    drop = ("train_seconds", "biased_steps_per_s")

    def strip(d):
        if isinstance(d, dict):
            return {k: strip(v) for k, v in d.items() if k not in drop and not runner.is_timing_key(k)}
        if isinstance(d, list):
            return [strip(v) for v in d]
        return d
    assert strip(resumed) == strip(reference)
    rows = read_metrics(run_dir / "metrics.jsonl")
    strip_rows = [{k: v for k, v in r.items() if "seconds" not in k} for r in rows]
    assert strip_rows == [{k: v for k, v in r.items() if "seconds" not in k} for r in ref_rows]


def test_checkpoint_of_another_run_kind_or_shape_is_refused(tmp_path, capsys, monkeypatch):
    """A checkpoint copied from another preset (other shapes) fails as one line, not a traceback."""
    args = ["--debug", "logging.wandb=disabled", "--quiet"]
    _interrupt_once(monkeypatch, importlib_module("experiments.kinds.novelty"), "reconstruction_error", 1)
    assert cli_run(["run", "novelty-waves", *args, "--out", str(tmp_path / "n")], capsys)[0] == 130
    monkeypatch.undo()
    ckpt = torch.load(tmp_path / "n" / "checkpoint.pt", weights_only=True)
    ckpt["state"]["model"] = {k: torch.zeros(3) for k in ckpt["state"]["model"]}
    torch.save(ckpt, tmp_path / "n" / "checkpoint.pt")
    code, _, err = cli_run(["resume", str(tmp_path / "n")], capsys)
    assert code == 2 and one_line_error(err) and "checkpoint" in err


def importlib_module(name: str):
    import importlib

    return importlib.import_module(name)
