"""The ``freeenergy`` command line (also ``python -m experiments``).

    freeenergy run PRESET_OR_YAML [section.key=value ...] [--out DIR] [--debug] [--quiet] [--nproc-per-node K]
    freeenergy presets
    freeenergy show PRESET_OR_YAML [section.key=value ...] [--debug] [--docs]
    freeenergy resume RUN_DIR [--quiet] [--nproc-per-node K]
    freeenergy sweep SWEEP_YAML_OR_NAME [section.key=value ...] [--out DIR] [--debug] [--workers N]
                     [--address HOST:PORT] [--metrics a,b]

Exit codes: 0 done; 2 bad input (config, env id, output folder, checkpoint),
printed as one line without a traceback; 1 the run failed (e.g. the world
model diverged; its folder keeps the logs, status.json and the last good
checkpoint); 130 interrupted (Ctrl-C or SIGTERM; resume it with
``freeenergy resume RUN_DIR``).

Note: an environment entry point (``env.id=package.module:Class``) or a
``module:function`` in a config imports and runs that Python code, by design:
only run configs you trust.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from experiments.config import Config, field_table, to_dict
from experiments.errors import UserError, disk_full
from experiments.guards import check_text_file


def _cmd_presets(args: argparse.Namespace) -> int:
    from experiments.config.presets import describe, preset_names
    from experiments.scale.sweep_spec import describe_sweep, sweep_names

    names, sweeps = preset_names(), sweep_names()
    width = max(map(len, names + sweeps), default=0)
    print("presets (freeenergy run NAME):")
    for name in names:
        try:
            text = describe(name)
        except UserError as err:  # one broken preset file must not hide the others
            text = f"(cannot be read: {err})"
        print(f"  {name:<{width}}  {text}")
    print("\nsweeps (freeenergy sweep NAME):")
    for name in sweeps:
        try:
            text = describe_sweep(name)
        except UserError as err:
            text = f"(cannot be read: {err})"
        print(f"  {name:<{width}}  {text}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    import yaml

    from experiments.config.presets import resolve

    if "=" in args.preset:  # `show preset=maze-afe ...`, as `run` takes it
        _wandb_agent_form(args)
    check_text_file(args.preset)
    cfg = resolve(args.preset, args.overrides, debug=args.debug)
    if args.docs:
        values = to_dict(cfg)
        section = None
        for key, type_name, default, text in field_table():
            head = key.split(".", 1)[0]
            if head != section:
                section = head
                print(f"\n[{section}]")
            value = _lookup(values, key)
            mark = "" if value == _plain(default) else f"   (default {_plain(default)!r})"
            print(f"  {key} = {value!r}   [{type_name}]{mark}\n      {text}")
        return 0
    print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end="")
    return 0


def _lookup(values: dict, key: str) -> object:
    """The value at dotted ``key`` of a nested config mapping."""
    for part in key.split("."):
        values = values.get(part) if isinstance(values, dict) else None  # type: ignore[assignment]
    return values


def _plain(v: object) -> object:
    return [_plain(i) for i in v] if isinstance(v, tuple) else v


def _report(summary: dict, run_dir: Path) -> None:
    """Where to look: the run folder, the summary, the maps, the W&B run."""
    print(f"run folder: {run_dir}")
    print(f"summary:    {run_dir / 'summary.json'}")
    pngs = sorted(p for p in run_dir.rglob("*.png") if "wandb" not in p.parts)
    if pngs:
        shown = pngs if len(pngs) <= 8 else pngs[:8]
        print("maps:       " + "\n            ".join(str(p) for p in shown)
              + (f"\n            ... and {len(pngs) - 8} more" if len(pngs) > 8 else ""))
    from experiments.io.logger import sync_commands

    commands = sync_commands(run_dir)
    for i, command in enumerate(commands[:8]):
        print(("W&B:        " if i == 0 else "            ") + command)
    if len(commands) > 8:
        print(f"            ... and {len(commands) - 8} more (one per W&B run)")
    figures: dict = {}
    for k, v in summary.items():
        if isinstance(v, (int, float, str)) and not isinstance(v, bool):
            figures[k] = round(v, 4) if isinstance(v, float) else v
        elif isinstance(v, dict) and "mean" in v and "std" in v:  # aggregated over seeds
            figures[k] = f"{v['mean']:.4g} +- {v['std']:.2g}"
    if figures:
        print("results:    " + json.dumps(figures)[:800])


def _wandb_agent_form(args: argparse.Namespace) -> None:
    """``freeenergy run agent.type=afe preset=maze-afe run.seed=3``: how ``wandb agent`` calls a sweep
    file's ``command: [freeenergy, run, ${args_no_hyphens}]``. One seed per call, as in ``freeenergy sweep``."""
    from experiments.config import ConfigError

    items = [args.preset, *args.overrides]
    named = [i for i in items if i.startswith("preset=")]
    if not named:
        raise ConfigError(f"{args.preset!r} is not a preset name or YAML file (overrides come after it, "
                          f"or pass preset=NAME among them)")
    args.preset = named[0].split("=", 1)[1]
    args.overrides = [i for i in items if not i.startswith("preset=")]
    if any(i.startswith("run.seed=") for i in args.overrides):
        args.overrides.insert(0, "run.seeds=[]")


def _cmd_run(args: argparse.Namespace) -> int:
    from experiments.config.presets import resolve

    if "=" in args.preset:
        _wandb_agent_form(args)
    from experiments.runner import run_experiment

    check_text_file(args.preset)
    cfg = honour_seed(resolve(args.preset, args.overrides, debug=args.debug), args.overrides)
    from experiments.scale import distributed

    if args.nproc_per_node is not None and not distributed.launched():  # checked here, once; then torchrun
        from experiments.scale import launch

        launch.check_run(cfg, args.nproc_per_node, args.out, args.overwrite)
        return launch.torchrun(args.nproc_per_node, launch.worker_argv(args))
    if distributed.launched():  # torchrun --nproc_per_node K: one data-parallel run
        summary, run_dir = distributed.run_launched(cfg, args.out, args.quiet, args.overwrite)
        if int(os.environ.get("RANK", "0")) == 0:
            _report(summary, run_dir)
        return 0
    summary, run_dir = run_experiment(cfg, out=args.out, quiet=args.quiet, overwrite=args.overwrite)
    _report(summary, run_dir)
    return 0


def honour_seed(cfg: Config, overrides: list[str]) -> Config:
    """``run.seed=S`` given on the command line runs seed S, also when the preset sets ``run.seeds``
    (which would otherwise win without a word); it says so on stderr."""
    keys = {o.split("=", 1)[0].strip() for o in overrides}
    if "run.seed" not in keys or "run.seeds" in keys or not cfg.run.seeds:
        return cfg
    print(f"freeenergy: run.seed={cfg.run.seed} replaces the preset's run.seeds={list(cfg.run.seeds)} "
          f"(pass run.seeds=[...] for several seeds)", file=sys.stderr)
    return dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, seeds=()))


def _cmd_resume(args: argparse.Namespace) -> int:
    from experiments.runner import resume_experiment
    from experiments.scale import distributed

    if args.nproc_per_node is not None and not distributed.launched():
        from experiments.scale import launch

        launch.check_resume(args.run_dir, args.nproc_per_node)
        return launch.torchrun(args.nproc_per_node, launch.worker_argv(args))
    if distributed.launched():
        summary, run_dir = distributed.resume_launched(args.run_dir, args.quiet)
        if int(os.environ.get("RANK", "0")) == 0:
            _report(summary, run_dir)
        return 0
    summary, run_dir = resume_experiment(args.run_dir, quiet=args.quiet)
    _report(summary, run_dir)
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from experiments.scale.sweep import run_sweep

    metrics = [m for m in (args.metrics or "").split(",") if m]
    _, counts = run_sweep(args.sweep, args.overrides, out=args.out, debug=args.debug, workers=args.workers,
                          address=args.address, metrics=metrics)
    return 1 if counts.get("failed") else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="freeenergy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a preset or a YAML config file")
    p.add_argument("preset", help="preset name (see `freeenergy presets`) or path to a YAML file")
    p.add_argument("overrides", nargs="*", help="dotted overrides parsed as YAML, e.g. env.num_envs=256 "
                                                "env.map_xy=[0,1] run.seed=1")
    p.add_argument("--out", default=None, help="write the run exactly into this folder")
    p.add_argument("--overwrite", action="store_true", help="let --out replace a run already in that folder")
    p.add_argument("--debug", action="store_true", help="the preset's tiny debug size")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--nproc-per-node", type=int, default=None, metavar="K",
                   help="one data-parallel run of K processes: checks the input, then starts torchrun")
    p.set_defaults(fn=_cmd_run)

    p = sub.add_parser("presets", help="list the bundled presets")
    p.set_defaults(fn=_cmd_presets)

    p = sub.add_parser("show", help="print the resolved config of a preset")
    p.add_argument("preset")
    p.add_argument("overrides", nargs="*")
    p.add_argument("--debug", action="store_true")
    p.add_argument("--docs", action="store_true", help="every key with its value, type and documentation")
    p.set_defaults(fn=_cmd_show)

    p = sub.add_parser("resume", help="continue an interrupted or killed run from its last checkpoint")
    p.add_argument("run_dir", help="the run folder (holds config.yaml and checkpoint.pt)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--nproc-per-node", type=int, default=None, metavar="K",
                   help="resume a data-parallel run with its K processes (through torchrun)")
    p.set_defaults(fn=_cmd_resume)

    p = sub.add_parser("sweep", help="run a sweep file (W&B sweep format) on Ray Tune; resumable")
    p.add_argument("sweep", help="a sweep YAML file or a bundled sweep name (e.g. sweep-exploration)")
    p.add_argument("overrides", nargs="*", help="dotted overrides applied to every trial")
    p.add_argument("--out", default=None, help="the sweep folder (default <run.out_root>/sweeps/<name>)")
    p.add_argument("--debug", action="store_true", help="every trial at its preset's tiny debug size")
    p.add_argument("--workers", type=int, default=None, help="trials at once (default: all cores / the cluster)")
    p.add_argument("--address", default=None, help="join an existing Ray cluster (HOST:PORT, ray://..., auto)")
    p.add_argument("--metrics", default="", help="more summary keys for the table, comma-separated")
    p.set_defaults(fn=_cmd_sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # Overrides may come after options too (`run maze --debug run.seed=3`).
    args, extra = parser.parse_known_args(argv)
    if extra:
        if not hasattr(args, "overrides") or any(a.startswith("-") or "=" not in a for a in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = list(args.overrides) + extra
    _plug_in_path()
    if getattr(args, "quiet", False):
        quiet_third_parties()
    try:
        return args.fn(args)
    except UserError as err:
        _say(f"freeenergy: error: {err}")
        return 2
    except FloatingPointError as err:
        _say(f"freeenergy: run stopped: {err}")
        _where(err)
        return 1
    except KeyboardInterrupt as err:
        _say(interrupted_line(err))
        return 130
    except Exception as err:  # a failed run (a worker that raised, a bug): one line, details kept
        full = disk_full(err)
        if full is not None:
            _say(disk_full_line(full, getattr(err, "run_dir", None)))
            return 1
        if os.environ.get("FREEENERGY_TRACEBACK") or getattr(err, "run_dir", None) is None:
            raise  # outside a run there is no status.json to hold the traceback
        text = str(err).strip().splitlines()[0] if str(err).strip() else ""
        print(f"freeenergy: run failed: {type(err).__name__}: {text[:300]} (traceback in "
              f"{Path(err.run_dir) / 'status.json'}; FREEENERGY_TRACEBACK=1 prints it)", file=sys.stderr)
        _where(err)
        return 1
    except BrokenPipeError:  # `freeenergy show ... | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


#: The project's own top-level packages: a user's module of the same name never replaces them.
OWN_PACKAGES = ("freeenergy", "envs", "agents", "experiments")


def _plug_in_path() -> None:
    """``env.id=mymodule:MyEnv`` finds ``mymodule.py`` in the current folder, as ``python -m`` would,
    but only after the project's own packages: they are imported first, from the project, so a
    user's ``envs.py`` or ``agents.py`` in that folder never shadows them."""
    import importlib

    root = Path(__file__).resolve().parents[1]
    cwd = os.getcwd()
    here = {"", cwd}
    if Path(cwd).resolve() != root:  # elsewhere: the project first, the user's folder last
        sys.path[:] = [p for p in sys.path if p not in here]
        for name in OWN_PACKAGES:
            mod = sys.modules.get(name)
            if mod is not None and root not in Path(getattr(mod, "__file__", None) or root).resolve().parents:
                for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
                    del sys.modules[key]  # a user's module of that name got in first
            importlib.import_module(name)
    if cwd not in sys.path:
        sys.path.append(cwd)


def _say(line: str) -> None:
    """An error line on stderr; under torchrun only rank 0 says it (every rank would say the same)."""
    if int(os.environ.get("RANK", "0")) == 0:
        print(line, file=sys.stderr)


def interrupted_line(err: BaseException) -> str:
    """What Ctrl-C (or SIGTERM) did, and how to go on: one line."""
    what = str(err) or "interrupted (Ctrl-C)"
    run_dir = getattr(err, "run_dir", None)
    if run_dir is None:
        return f"freeenergy: {what}"
    if (Path(run_dir) / "checkpoint.pt").exists():
        return (f"freeenergy: {what}: the run stopped and kept its last checkpoint in {run_dir}; continue with "
                f"`freeenergy resume {run_dir}`")
    return (f"freeenergy: {what} before the run's first checkpoint; start it again with `freeenergy run "
            f"{Path(run_dir) / 'config.yaml'} --out {run_dir} --overwrite`")


def disk_full_line(err: OSError, run_dir: Path | None) -> str:
    """One line for a full disk: what could not be written, what was kept, how to go on."""
    where = f" writing {err.filename!r}" if getattr(err, "filename", None) else ""
    line = f"freeenergy: run failed: disk full ({err.strerror or err}{where}); free some space"
    if run_dir is not None and (Path(run_dir) / "checkpoint.pt").exists():
        return line + f", then continue from the last checkpoint with `freeenergy resume {run_dir}`"
    return line + (f" (status in {Path(run_dir) / 'status.json'})" if run_dir is not None else "")


def quiet_third_parties() -> None:
    """``--quiet``: no W&B banners and no warnings from other packages (ours still show)."""
    import logging
    import warnings

    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_CONSOLE", "off")
    os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    logging.getLogger("wandb").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"^(?!experiments|agents|envs|freeenergy)")


def _where(err: BaseException, resume: bool = False) -> None:
    run_dir = getattr(err, "run_dir", None)
    if run_dir is None:
        return
    ckpt = Path(run_dir) / "checkpoint.pt"
    _say(f"freeenergy: logs and status.json kept in {run_dir}")
    if ckpt.exists():
        _say(f"freeenergy: last good checkpoint: {ckpt}"
             + (f"; continue with `freeenergy resume {run_dir}`" if resume else ""))


if __name__ == "__main__":
    sys.exit(main())
