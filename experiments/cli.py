"""The ``freeenergy`` command line: run, presets, show."""
from __future__ import annotations

import argparse
import sys

from experiments.config import ConfigError, field_docs, to_dict


def _cmd_presets(args: argparse.Namespace) -> int:
    from experiments.presets import describe, preset_names

    names = preset_names()
    width = max(map(len, names), default=0)
    for name in names:
        print(f"{name:<{width}}  {describe(name)}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    import yaml

    from experiments.presets import resolve

    cfg = resolve(args.preset, args.overrides, debug=args.debug)
    if args.docs:
        for key, text in field_docs().items():
            print(f"{key}: {text}")
        return 0
    print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end="")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from experiments.presets import resolve
    from experiments.runner import run_experiment

    cfg = resolve(args.preset, args.overrides, debug=args.debug)
    summary, run_dir = run_experiment(cfg, out=args.out, quiet=args.quiet)
    print(f"run folder: {run_dir}")
    print(f"summary:    {run_dir / 'summary.json'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="freeenergy", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a preset or a YAML config file")
    p.add_argument("preset", help="preset name (see `freeenergy presets`) or path to a YAML file")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. env.num_envs=256 run.seed=1")
    p.add_argument("--out", default=None, help="write the run exactly into this folder")
    p.add_argument("--debug", action="store_true", help="the preset's tiny debug size")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(fn=_cmd_run)

    p = sub.add_parser("presets", help="list the bundled presets")
    p.set_defaults(fn=_cmd_presets)

    p = sub.add_parser("show", help="print the resolved config of a preset")
    p.add_argument("preset")
    p.add_argument("overrides", nargs="*")
    p.add_argument("--debug", action="store_true")
    p.add_argument("--docs", action="store_true", help="print every key with its documentation")
    p.set_defaults(fn=_cmd_show)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except ConfigError as err:
        print(f"freeenergy: config error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("freeenergy: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
