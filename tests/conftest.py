"""Suite-wide test settings: W&B and matplotlib stay inside a temp folder and off screen."""
from __future__ import annotations

import os

import pytest
import torch

# Small nets on a loaded 2-core machine run far faster on one thread than on two
# competing ones; results do not depend on it beyond float rounding.
torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _isolated_wandb_and_matplotlib(tmp_path_factory: pytest.TempPathFactory):
    """Point every W&B folder into a session temp dir (nothing lands in the user's home),
    keep W&B quiet, and draw with Agg."""
    root = tmp_path_factory.mktemp("wandb_home")
    values = {
        "WANDB_DIR": root / "dir",
        "WANDB_CACHE_DIR": root / "cache",
        "WANDB_CONFIG_DIR": root / "config",
        "WANDB_DATA_DIR": root / "data",
        "WANDB_ARTIFACT_DIR": root / "artifacts",
    }
    saved = {k: os.environ.get(k) for k in [*values, "WANDB_SILENT", "MPLBACKEND"]}
    for key, path in values.items():
        path.mkdir(parents=True, exist_ok=True)
        os.environ[key] = str(path)
    os.environ["WANDB_SILENT"] = "true"
    os.environ["MPLBACKEND"] = "Agg"
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
    except ImportError:
        pass
    yield root
    for key, old in saved.items():
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


@pytest.fixture
def toy_kind(monkeypatch):
    """Run kind ``agent`` is the tiny toy experiment of ``tests/toy_experiment.py`` (no env probe)."""
    from experiments import kinds
    from toy_experiment import TOY_KIND

    monkeypatch.setitem(kinds.RUN_KINDS, "agent", TOY_KIND)
    for key in ("TOY_SLEEP", "TOY_NAN_AT", "TOY_INTERRUPT_AT"):
        monkeypatch.delenv(key, raising=False)
