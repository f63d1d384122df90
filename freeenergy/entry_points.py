"""``"package.module:Name"`` entry points: the one loader every table of the project uses.

World models, environments, agents, intrinsic sources and run kinds are rows
of tables whose entry points are imported on first use, so that reading a
table (to validate a config, to print docs) imports nothing heavy.
"""
from __future__ import annotations

import difflib
import importlib
from typing import Any


class EntryPointError(ValueError):
    """An entry point that does not resolve; the message says which part and why."""


def load(entry_point: str) -> Any:
    """Import ``"package.module:Name"`` (``Name`` may be dotted, ``Class.method``).

    Raises:
        EntryPointError: a malformed string, a module that does not import, or a missing name.
    """
    if not isinstance(entry_point, str) or entry_point.count(":") != 1:
        raise EntryPointError(f"entry point {entry_point!r} must look like 'package.module:Name'")
    module_name, qualname = entry_point.split(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise EntryPointError(f"entry point {entry_point!r}: cannot import module {module_name!r} ({exc})") from exc
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            names = [n for n in dir(obj) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=3)
            hint = f"; did you mean {close}?" if close else ""
            raise EntryPointError(f"entry point {entry_point!r}: {module_name!r} has no attribute "
                                  f"{qualname!r}{hint}") from None
    return obj
