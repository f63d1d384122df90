"""Runs that survive bad input and interruption: every failure gets a clear message,
and no failed run looks complete (summary.json only on success)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from toy_runs import ROOT, TOY, cli_run, toy_yaml

import experiments.runner as runner
from experiments.io.logger import read_metrics


def comparable(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if not runner.is_timing_key(k)}


def steps_logged(run_dir: Path) -> list[int]:
    return [r["step"] for r in read_metrics(run_dir / "metrics.jsonl")]


# ------------------------------------------------------------------ determinism


def test_same_seed_same_summary_other_seed_differs(tmp_path, toy_kind, capsys):
    cfg = toy_yaml(tmp_path)
    runs = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        code, _, err = cli_run(["run", str(cfg), f"run.seed={seed}", "--out", str(tmp_path / name)], capsys)
        assert code == 0, err
        runs.append(json.loads((tmp_path / name / "summary.json").read_text()))
    assert "wall_seconds" in runs[0]
    assert comparable(runs[0]) == comparable(runs[1])
    assert comparable(runs[0]) != comparable(runs[2])


def test_multi_seed_run_aggregates(tmp_path, toy_kind, capsys):
    code, _, err = cli_run(["run", str(toy_yaml(tmp_path)), "run.seeds=[0, 1]", "--out", str(tmp_path / "m")],
                           capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "m" / "summary.json").read_text())
    s0 = json.loads((tmp_path / "m" / "seed_0" / "summary.json").read_text())
    s1 = json.loads((tmp_path / "m" / "seed_1" / "summary.json").read_text())
    assert summary["coverage"]["values"] == [s0["coverage"], s1["coverage"]]
    assert summary["coverage"]["mean"] == pytest.approx((s0["coverage"] + s1["coverage"]) / 2)
    assert yaml.safe_load((tmp_path / "m" / "seed_1" / "config.yaml").read_text())["logging"]["group"] == "m"
    assert json.loads((tmp_path / "m" / "status.json").read_text())["status"] == "complete"


# ------------------------------------------------------------------ bad input at the CLI


@pytest.mark.parametrize("args, words", [
    (["run.stpes=3"], ["unknown config key 'run.stpes'", "Did you mean 'steps'"]),
    (["run.steps=many"], ["run.steps='many'", "integer"]),
    (["env.num_envs=-4"], ["env.num_envs=-4", ">= 1"]),
    (["env.device=tpu"], ["env.device='tpu'", "cpu, cuda"]),
])
def test_config_errors_exit_2_without_traceback(tmp_path, toy_kind, capsys, args, words):
    code, out, err = cli_run(["run", str(toy_yaml(tmp_path)), *args, "--out", str(tmp_path / "r")], capsys)
    assert code == 2
    assert err.startswith("freeenergy: error:") and "Traceback" not in err
    for word in words:
        assert word in err
    assert not (tmp_path / "r" / "summary.json").exists()


def test_malformed_yaml_and_unknown_preset(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("config:\n  run: [1, 2\n")
    code, _, err = cli_run(["run", str(bad)], capsys)
    assert code == 2 and "malformed YAML" in err and "bad.yaml" in err
    code, _, err = cli_run(["run", "quickstrat"], capsys)
    assert code == 2 and "unknown preset 'quickstrat'" in err and "Did you mean 'quickstart'" in err


@pytest.mark.parametrize("env_id, words", [
    ("NoSuchEnv-v0", ["env.id='NoSuchEnv-v0'", "unknown environment"]),
    ("no_such_module_xyz:Env", ["env.id='no_such_module_xyz:Env'", "cannot import module"]),
    ("toy_experiment:NoSuchClass", ["has no attribute 'NoSuchClass'"]),
    ("toy_experiment:TextEnv", ["Text", "no fixed-size flat form", "supported spaces"]),
])
def test_bad_env_ids_are_clean_errors(tmp_path, capsys, env_id, words):
    code, _, err = cli_run(["run", str(toy_yaml(tmp_path)), f"env.id={env_id}", "--out", str(tmp_path / "r")],
                           capsys)
    assert code == 2, err
    assert "Traceback" not in err
    for word in words:
        assert word in err
    assert not (tmp_path / "r").exists()  # rejected before a run folder was made


def test_output_dir_not_writable(tmp_path, toy_kind, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, _, err = cli_run(["run", str(toy_yaml(tmp_path)), "--out", str(blocker / "run")], capsys)
    assert code == 2 and "not writable" in err and "--out" in err
    if os.geteuid() != 0:  # root ignores permission bits
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        code, _, err = cli_run(["run", str(toy_yaml(tmp_path)), "--out", str(locked / "run")], capsys)
        assert code == 2 and "not writable" in err


def test_out_dir_holding_a_run_is_not_overwritten_silently(tmp_path, toy_kind, capsys):
    cfg = toy_yaml(tmp_path)
    assert cli_run(["run", str(cfg), "--out", str(tmp_path / "r")], capsys)[0] == 0
    code, _, err = cli_run(["run", str(cfg), "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and "already holds a run" in err and "freeenergy resume" in err
    code, _, err = cli_run(["run", str(cfg), "--out", str(tmp_path / "r"), "--overwrite"], capsys)
    assert code == 0, err
    assert steps_logged(tmp_path / "r") == list(range(0, 40, 5))  # not appended to the old rows


# ------------------------------------------------------------------ NaN loss


def test_nan_loss_stops_with_message_and_keeps_last_good_checkpoint(tmp_path, toy_kind, capsys, monkeypatch):
    monkeypatch.setenv("TOY_NAN_AT", "25")
    run_dir = tmp_path / "r"
    code, _, err = cli_run(["run", str(toy_yaml(tmp_path)), "--out", str(run_dir)], capsys)
    assert code == 1
    assert "loss became nan at step 25" in err and "last good checkpoint" in err and str(run_dir) in err
    assert not (run_dir / "summary.json").exists()
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "failed" and "FloatingPointError" in status["error"]
    ckpt = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 19 and torch.isfinite(ckpt["state"]["pos"]).all()
    assert steps_logged(run_dir) == [0, 5, 10, 15, 20]


# ------------------------------------------------------------------ resume errors


class _RunsCode:
    """Unpickling this calls print: what a malicious checkpoint would do."""

    def __reduce__(self):
        return (print, ("pwned",))


def test_resume_errors(tmp_path, toy_kind, capsys):
    code, _, err = cli_run(["resume", str(tmp_path / "nowhere")], capsys)
    assert code == 2 and "does not exist" in err
    code, _, err = cli_run(["resume", str(tmp_path)], capsys)
    assert code == 2 and "no config.yaml" in err

    run_dir = tmp_path / "r"
    assert cli_run(["run", str(toy_yaml(tmp_path)), "--out", str(run_dir)], capsys)[0] == 0
    code, _, err = cli_run(["resume", str(run_dir)], capsys)
    assert code == 2 and "already completed" in err

    (run_dir / "summary.json").unlink()
    (run_dir / "checkpoint.pt").unlink()
    code, _, err = cli_run(["resume", str(run_dir)], capsys)
    assert code == 2 and "no checkpoint" in err and "Traceback" not in err

    (run_dir / "checkpoint.pt").write_bytes(b"\x00garbage" * 50)
    code, _, err = cli_run(["resume", str(run_dir)], capsys)
    assert code == 2 and "corrupt" in err and "Traceback" not in err

    # a pickle that would run code is refused by weights_only loading
    torch.save({"format": 1, "step": 0, "state": {"x": _RunsCode()}}, run_dir / "checkpoint.pt")
    code, out, err = cli_run(["resume", str(run_dir)], capsys)
    assert code == 2 and "corrupt or unreadable" in err and "pwned" not in out

    torch.save({"weights": torch.zeros(2)}, run_dir / "checkpoint.pt")
    code, _, err = cli_run(["resume", str(run_dir)], capsys)
    assert code == 2 and "not a freeenergy run checkpoint" in err
    assert not (run_dir / "summary.json").exists()


# ------------------------------------------------------------------ interrupts


def test_ctrl_c_checkpoints_then_resume_matches_uninterrupted_run(tmp_path, toy_kind, capsys, monkeypatch):
    cfg = toy_yaml(tmp_path)
    assert cli_run(["run", str(cfg), "--out", str(tmp_path / "ref")], capsys)[0] == 0
    reference = json.loads((tmp_path / "ref" / "summary.json").read_text())

    monkeypatch.setenv("TOY_INTERRUPT_AT", "23")
    run_dir = tmp_path / "r"
    code, _, err = cli_run(["run", str(cfg), "--out", str(run_dir)], capsys)
    assert code == 130 and f"freeenergy resume {run_dir}" in err
    assert not (run_dir / "summary.json").exists()
    assert json.loads((run_dir / "status.json").read_text())["status"] == "interrupted"
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["step"] == 22
    assert not list(run_dir.glob(".freeenergy-tmp-*"))  # the atomic write left no temp file

    monkeypatch.delenv("TOY_INTERRUPT_AT")
    code, out, err = cli_run(["resume", str(run_dir)], capsys)
    assert code == 0, err
    resumed = json.loads((run_dir / "summary.json").read_text())
    assert comparable(resumed) == comparable(reference)  # RNG state restored from the checkpoint
    assert steps_logged(run_dir) == list(range(0, 40, 5))


def _wait_for(predicate, timeout: float = 60.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the subprocess")


def _ckpt_step(path: Path) -> int:
    return int(torch.load(path, weights_only=True)["step"])


def test_sigterm_writes_checkpoint_status_and_finishes_wandb(tmp_path):
    cfg = toy_yaml(tmp_path, run={"steps": 2000})
    run_dir = tmp_path / "r"
    env = {**os.environ, "TOY_SLEEP": "0.01"}
    proc = subprocess.Popen([sys.executable, str(TOY), "run", str(cfg), "logging.wandb=offline", "--out",
                             str(run_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        _wait_for(lambda: (run_dir / "checkpoint.pt").exists() and len(steps_logged(run_dir)) >= 6)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "SIGTERM" in err and "freeenergy resume" in err
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "interrupted" and "SIGTERM" in status["error"]
    assert not (run_dir / "summary.json").exists()
    last = _ckpt_step(run_dir / "checkpoint.pt")
    assert last > 0 and max(steps_logged(run_dir)) <= last  # the checkpoint covers every logged row
    wandb_bin = Path(sys.executable).with_name("wandb")
    offline = next((run_dir / "wandb").glob("offline-run-*"))
    res = subprocess.run([str(wandb_bin), "leet", "inspect", "--summary", "--json", str(offline)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["exit_code"] == 1  # W&B run finished (marked failed), not left crashed


def test_kill_9_then_resume_continues_with_metrics_intact(tmp_path, toy_kind, capsys):
    cfg = toy_yaml(tmp_path, run={"steps": 150})
    assert cli_run(["run", str(cfg), "--out", str(tmp_path / "ref")], capsys)[0] == 0
    reference = json.loads((tmp_path / "ref" / "summary.json").read_text())

    run_dir = tmp_path / "r"
    env = {**os.environ, "TOY_SLEEP": "0.01"}
    proc = subprocess.Popen([sys.executable, str(TOY), "run", str(cfg), "--out", str(run_dir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        # killed between checkpoints: rows exist after the checkpoint's step
        _wait_for(lambda: (run_dir / "checkpoint.pt").exists()
                  and max(steps_logged(run_dir), default=-1) > _ckpt_step(run_dir / "checkpoint.pt"))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert json.loads((run_dir / "status.json").read_text())["status"] == "running"  # as the kill left it
    assert not (run_dir / "summary.json").exists()

    code, out, err = cli_run(["resume", str(run_dir)], capsys)
    assert code == 0, err
    assert steps_logged(run_dir) == list(range(0, 150, 5))  # every row exactly once
    resumed = json.loads((run_dir / "summary.json").read_text())
    assert comparable(resumed) == comparable(reference)
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "complete" and status["resumed_from_step"] >= 9


def test_real_agent_sigterm_then_resume(tmp_path, capsys):
    """maze-afe at debug size: SIGTERM mid-run, then `freeenergy resume` finishes it in the
    same folder with every metrics row exactly once and the same summary keys."""
    run_dir = tmp_path / "r"
    args = ["maze-afe", "--debug", "run.steps=200", "run.checkpoint_every=20", "logging.interval=10",
            "logging.map_interval=100", "logging.wandb=disabled", "--out", str(run_dir), "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "experiments", "run", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: (run_dir / "checkpoint.pt").exists() and len(steps_logged(run_dir)) >= 3, timeout=120)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if proc.returncode == 0:
        pytest.skip("the run finished before SIGTERM arrived")
    assert proc.returncode == 130, err
    assert json.loads((run_dir / "status.json").read_text())["status"] == "interrupted"
    assert not (run_dir / "summary.json").exists()
    code, _, err = cli_run(["resume", str(run_dir), "--quiet"], capsys)
    assert code == 0, err
    assert steps_logged(run_dir) == list(range(10, 201, 10))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["env_steps"] == 400 and 0.0 < summary["coverage"] <= 1.0


def test_real_agent_same_seed_same_summary(tmp_path, capsys):
    summaries = []
    for name in ("a", "b"):
        code, _, err = cli_run(["run", "maze-afe", "--debug", "logging.wandb=disabled", "--out",
                                str(tmp_path / name), "--quiet"], capsys)
        assert code == 0, err
        summaries.append(json.loads((tmp_path / name / "summary.json").read_text()))
    assert "env_steps_per_second" in summaries[0]  # a timing key, left out of the comparison
    assert comparable(summaries[0]) == comparable(summaries[1])


@pytest.mark.parametrize("preset", ["maze-afe", "maze-ppo-afe"])
def test_real_agent_sigterm_checkpoints_the_step_reached(tmp_path, preset):
    """With no periodic checkpoints, SIGTERM still leaves a checkpoint at (at least) the last logged step."""
    run_dir = tmp_path / "r"
    args = [preset, "--debug", "run.steps=100000", "run.checkpoint_every=0", "logging.interval=5",
            "logging.map_interval=100000", "logging.wandb=disabled", "--out", str(run_dir), "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "experiments", "run", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: len(steps_logged(run_dir)) >= 3, timeout=120)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    ckpt = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert ckpt["step"] >= max(steps_logged(run_dir)) >= 15


def test_overwrite_removes_the_old_runs_files_and_only_those(tmp_path, capsys):
    from experiments.io import run_folder

    out = tmp_path / "r"
    args = ["run", "maze-random", "--debug", "logging.wandb=disabled", "--out", str(out), "--quiet"]
    code, _, err = cli_run(args, capsys)
    assert code == 0, err
    (out / "old_run_map.png").write_bytes(b"old")  # as if the old run had drawn a map the new one does not
    run_folder.record(out / "old_run_map.png")
    (out / "my_figure.png").write_bytes(b"mine")  # the user's own files
    (out / "my_data.npy").write_bytes(b"mine")
    (out / "coverage.png").write_bytes(b"old")
    code, _, err = cli_run(args + ["--overwrite"], capsys)
    assert code == 0, err
    assert not (out / "old_run_map.png").exists()
    assert (out / "my_figure.png").read_bytes() == b"mine" and (out / "my_data.npy").read_bytes() == b"mine"
    assert (out / "coverage.png").read_bytes()[:4] == b"\x89PNG"  # redrawn for the new run


def test_status_of_a_completed_run_keeps_no_failure_details(tmp_path):
    runner.write_status(tmp_path, "failed", error="boom", traceback="tb", checkpoint="c.pt")
    runner.write_status(tmp_path, "running")
    assert runner.read_status(tmp_path) == {"status": "running"}
