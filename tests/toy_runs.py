"""The toy experiment the CLI tests run (``tests/toy_experiment.py``), and how they call the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from experiments import cli

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "tests" / "toy_experiment.py"
TOY_CONFIG = {"run": {"kind": "agent", "steps": 40, "checkpoint_every": 10},
              "logging": {"interval": 5, "map_interval": 100, "wandb": "disabled", "quiet": True}}


def toy_yaml(tmp_path: Path, **sections: dict) -> Path:
    """``tmp_path/toy.yaml``: the toy config with ``sections`` (e.g. ``run={"steps": 150}``) merged in."""
    cfg = json.loads(json.dumps(TOY_CONFIG))
    for k, v in sections.items():
        cfg.setdefault(k, {}).update(v)
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump({"config": cfg}))
    return path


def cli_run(argv: list[str], capsys) -> tuple[int, str, str]:
    """``freeenergy ARGV`` in this process: (exit code, stdout, stderr)."""
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err
