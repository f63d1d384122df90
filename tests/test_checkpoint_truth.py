"""Checkpoints tell the truth: a damaged file, a run shortened below its checkpoint and a data-parallel
checkpoint resumed by one process are each one line (exit 2), never a wrong result."""
from __future__ import annotations

import zipfile

import torch
import yaml
from toy_runs import cli_run, toy_yaml

from experiments.context import content_digest


def one_line_error(err: str) -> bool:
    return err.startswith("freeenergy: error:") and "Traceback" not in err and len(err.strip().splitlines()) == 1


def _interrupted_toy(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TOY_INTERRUPT_AT", "23")
    run_dir = tmp_path / "r"
    assert cli_run(["run", str(toy_yaml(tmp_path)), "--out", str(run_dir)], capsys)[0] == 130
    monkeypatch.delenv("TOY_INTERRUPT_AT")
    return run_dir


def _flip_tensor_bytes(path, n=40):
    """Flip ``n`` bytes in the middle of the largest stored tensor of a torch.save zip."""
    with zipfile.ZipFile(path) as zf:
        info = max((i for i in zf.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    raw = bytearray(path.read_bytes())
    name_len = int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28], "little")
    extra_len = int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len + info.file_size // 2 - n // 2
    for i in range(start, start + n):
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_a_checkpoint_with_flipped_tensor_bytes_is_refused(tmp_path, toy_kind, capsys, monkeypatch):
    run_dir = _interrupted_toy(tmp_path, capsys, monkeypatch)
    assert "sha256" in torch.load(run_dir / "checkpoint.pt", weights_only=True)
    _flip_tensor_bytes(run_dir / "checkpoint.pt")
    torch.load(run_dir / "checkpoint.pt", weights_only=True)  # still loads: only the checksum can tell
    code, _, err = cli_run(["resume", str(run_dir)], capsys)
    assert code == 2 and one_line_error(err) and "SHA-256" in err and "damaged" in err
    assert not (run_dir / "summary.json").exists()


def test_the_digest_covers_values_keys_and_types():
    base = {"step": 3, "state": {"w": torch.arange(6.0).reshape(2, 3), "n": [1, (2, 3)]}}
    d = content_digest(base)
    assert d == content_digest({"step": 3, "state": {"w": torch.arange(6.0).reshape(2, 3), "n": [1, (2, 3)]}})
    for other in ({"step": 4, "state": base["state"]},
                  {"step": 3, "state": {"w": torch.arange(6.0).reshape(3, 2), "n": [1, (2, 3)]}},
                  {"step": 3, "state": {"w": torch.arange(6).reshape(2, 3), "n": [1, (2, 3)]}},
                  {"step": 3, "state": {"w": torch.arange(6.0).reshape(2, 3), "n": [1, [2, 3]]}}):
        assert content_digest(other) != d


def test_resume_after_lowering_run_steps_below_the_checkpoint_is_refused(tmp_path, capsys):
    run_dir = tmp_path / "r"
    args = ["run", "maze-random", "--debug", "logging.wandb=disabled", "--quiet", "run.steps=12",
            "run.checkpoint_every=8", "--out", str(run_dir)]
    assert cli_run(args, capsys)[0] == 0
    (run_dir / "summary.json").unlink()  # as if killed after its last checkpoint
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    cfg["run"]["steps"] = 6
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg))
    code, _, err = cli_run(["resume", str(run_dir)], capsys)
    assert code == 2 and one_line_error(err) and "run.steps=6" in err and "12" in err
    cfg["run"]["steps"] = 12
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg))
    code, _, err = cli_run(["resume", str(run_dir), "--quiet"], capsys)
    assert code == 0, err


def test_a_plain_resume_of_a_data_parallel_checkpoint_says_torchrun(tmp_path, toy_kind, capsys, monkeypatch):
    run_dir = _interrupted_toy(tmp_path, capsys, monkeypatch)
    ckpt = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    ckpt.pop("sha256")
    ckpt["state"] = {"step": ckpt["step"], "world_size": 2,
                     "ranks": [{"state": ckpt["state"], "rng": ckpt["rng"]}] * 2}
    ckpt["sha256"] = content_digest(ckpt)
    torch.save(ckpt, run_dir / "checkpoint.pt")
    code, _, err = cli_run(["resume", str(run_dir)], capsys)
    assert code == 2 and one_line_error(err) and "torchrun --nproc_per_node 2" in err and "--overwrite" not in err
