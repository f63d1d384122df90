"""What reaches W&B: the quickstart's run holds every map its folder holds and only the config it
used; the seeds of a multi-seed run have names that say which experiment they belong to."""
from __future__ import annotations

from pathlib import Path

from experiments import runner
from experiments.cli import main


class FakeWandb:
    """Records what a run sends to W&B."""

    made: list[FakeWandb] = []

    def __init__(self, out_dir, config, logging_cfg, name, tags, run_id=None):
        self.out_dir, self.config, self.name, self.run_id = Path(out_dir), config, name, "fake"
        self.images: list[str] = []
        self.parts: dict = {}
        FakeWandb.made.append(self)

    def log_scalars(self, metrics, step, axis=None):
        pass

    def log_image(self, key, path, step=None):
        self.images.append(key)

    def log_summary(self, summary):
        pass

    def update_config(self, config):
        self.parts.update(config.get("parts", {}))

    def close(self, exit_code=0):
        pass


def test_the_quickstart_wandb_run_holds_every_map_and_only_what_it_used(tmp_path, capsys, monkeypatch):
    FakeWandb.made = []
    monkeypatch.setattr(runner, "WandbLogger", FakeWandb)
    run_dir = tmp_path / "q"
    assert main(["run", "quickstart", "--debug", "--quiet", "--out", str(run_dir)]) == 0, capsys.readouterr().err
    (w,) = FakeWandb.made
    pngs = {p.relative_to(run_dir).with_suffix("").as_posix() for p in run_dir.rglob("*.png")}
    logged = {k.removeprefix("maps/") for k in w.images}
    assert pngs and pngs <= logged, sorted(pngs - logged)
    assert set(w.config) == {"run", "quickstart", "logging"}
    assert set(w.parts) == {"darkroom-fe", "darkroom-afe", "maze-afe"}
    assert all("generative" not in part and "agent" in part for part in w.parts.values())


def test_seeds_have_wandb_names_of_their_experiment_and_the_seed_is_not_averaged(tmp_path, capsys, monkeypatch):
    FakeWandb.made = []
    monkeypatch.setattr(runner, "WandbLogger", FakeWandb)
    code = main(["run", "maze-random", "--debug", "run.seeds=[0,1]", "run.steps=5", "logging.wandb=offline",
                 "--quiet", "--out", str(tmp_path / "a")])
    out = capsys.readouterr().out
    assert code == 0
    names = [w.name for w in FakeWandb.made]
    assert len(names) == 2
    assert names[0].startswith("maze-random__seed0__") and names[1].startswith("maze-random__seed1__")
    assert names[0].split("__")[-1] == names[1].split("__")[-1] and len(names[0].split("__")[-1]) == 6
    assert '"seed"' not in out.split("results:")[1]
