"""``python -m experiments ...`` is the same as the ``freeenergy`` command.

``python -m`` puts the current folder first on ``sys.path``; a user's ``agents.py`` or
``envs.py`` there would then replace the project's packages as soon as the CLI imports them.
So the folder moves to the end first (the CLI adds it back there for plug-in modules).
"""
import os
import sys
from pathlib import Path

if Path.cwd().resolve() != Path(__file__).resolve().parents[1]:
    sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]

from experiments.cli import main  # noqa: E402 -- after the path is set

sys.exit(main())
