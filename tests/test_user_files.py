"""A user's files are sacred: ``--overwrite``, locks, manifests and temp cleanup touch only regular
files this tool wrote, listed by exact name, inside the run folder, and never follow a link."""
from __future__ import annotations

import os

import pytest
from toy_runs import cli_run, toy_yaml

from experiments.io import run_folder


def one_line_error(err: str) -> bool:
    return err.startswith("freeenergy: error:") and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.fixture
def done_run(tmp_path, toy_kind, capsys):
    """A finished toy run in ``tmp_path/r``."""
    run_dir = tmp_path / "r"
    code, _, err = cli_run(["run", str(toy_yaml(tmp_path)), "--out", str(run_dir)], capsys)
    assert code == 0, err
    return run_dir


def _overwrite(tmp_path, run_dir, capsys) -> tuple[int, str]:
    code, _, err = cli_run(["run", str(toy_yaml(tmp_path)), "--out", str(run_dir), "--overwrite"], capsys)
    return code, err


def test_an_old_style_looking_user_folder_is_foreign(tmp_path, toy_kind, capsys):
    user = tmp_path / "mine"
    (user / "wandb").mkdir(parents=True)
    files = {"config.yaml": b"lr: 1\n", "status.json": b"{}", "checkpoint.pt": b"weights", "metrics.jsonl": b"{}\n",
             "train.py": b"print(1)\n", "wandb/run.log": b"my log"}
    for name, data in files.items():
        (user / name).write_bytes(data)
    code, err = _overwrite(tmp_path, user, capsys)
    assert code == 2 and one_line_error(err) and "not a freeenergy run folder" in err
    assert {n: (user / n).read_bytes() for n in files} == files
    assert not (user / run_folder.MANIFEST).exists()


def test_a_lock_file_linked_to_a_users_file_is_never_truncated(tmp_path, done_run, capsys):
    precious = tmp_path / "precious.txt"
    precious.write_text("precious")
    (done_run / run_folder.LOCK).unlink()
    (done_run / run_folder.LOCK).symlink_to(precious)
    code, err = _overwrite(tmp_path, done_run, capsys)
    assert code == 2 and one_line_error(err) and "symbolic link" in err
    assert precious.read_text() == "precious"
    (done_run / run_folder.LOCK).unlink()
    os.link(precious, done_run / run_folder.LOCK)  # a second name of the user's file
    code, err = _overwrite(tmp_path, done_run, capsys)
    assert code == 2 and one_line_error(err) and "not a plain file of its own" in err
    assert precious.read_text() == "precious"


def test_a_manifest_linked_to_a_users_file_is_never_written(tmp_path, toy_kind, capsys):
    precious = tmp_path / "precious.txt"
    precious.write_text("precious")
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / run_folder.MANIFEST).symlink_to(precious)
    code, _, err = cli_run(["run", str(toy_yaml(tmp_path)), "--out", str(run_dir)], capsys)
    assert code == 2 and one_line_error(err) and "symbolic link" in err
    assert precious.read_text() == "precious"


@pytest.mark.parametrize("line", ["lnk/secret.txt", ".", "./", "..", "lnk", "a/../../secret.txt"])
def test_a_tampered_manifest_line_reaches_nothing_outside(tmp_path, done_run, capsys, line):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (done_run / "lnk").symlink_to(outside)
    (done_run / "mine.txt").write_text("mine")
    with open(done_run / run_folder.MANIFEST, "a") as fh:
        fh.write(line + "\n")
    code, err = _overwrite(tmp_path, done_run, capsys)
    assert code == 0, err
    assert (outside / "secret.txt").read_text() == "secret"
    assert (done_run / "mine.txt").read_text() == "mine" and (done_run / "lnk").is_symlink()
    assert (done_run / "summary.json").exists()


def test_a_users_file_inside_wandb_survives_overwrite(tmp_path, toy_kind, capsys):
    run_dir = tmp_path / "r"
    cfg = toy_yaml(tmp_path, logging={"wandb": "offline"})
    assert cli_run(["run", str(cfg), "--out", str(run_dir)], capsys)[0] == 0
    wandb_runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert wandb_runs and all(str(p.relative_to(run_dir)) in run_folder.written(run_dir) for p in wandb_runs)
    (run_dir / "wandb" / "notes.txt").write_text("mine")
    (wandb_runs[0] / "mine.txt").write_text("mine too")
    assert cli_run(["run", str(cfg), "--out", str(run_dir), "--overwrite"], capsys)[0] == 0
    assert (run_dir / "wandb" / "notes.txt").read_text() == "mine"
    assert (wandb_runs[0] / "mine.txt").read_text() == "mine too"
    assert not (wandb_runs[0] / "files" / "wandb-summary.json").exists()  # the old W&B run's own files went


def test_temp_cleanup_removes_only_its_own_temp_names(tmp_path, done_run, capsys):
    mine = [".notes.tmp1", ".summary.json.tmp999-1", ".x.tmp12-3", ".freeenergy-tmp-notes"]
    for name in mine:
        (done_run / name).write_text("mine")
    stray = done_run / ".freeenergy-tmp-999-1-summary.json"
    stray.write_text("torn")
    code, err = _overwrite(tmp_path, done_run, capsys)
    assert code == 0, err
    assert all((done_run / name).read_text() == "mine" for name in mine)
    assert not stray.exists()
