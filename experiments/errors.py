"""Errors a user can fix, and the exception a SIGTERM becomes.

The CLI prints a :class:`UserError` as one line and exits with code 2 (no
traceback); anything else is a bug or a failed run (exit code 1).
"""
from __future__ import annotations

import errno


class UserError(ValueError):
    """Bad input: a config, a path, a checkpoint. The message says what to change."""


class CheckpointError(UserError):
    """A run folder cannot be resumed: no checkpoint, a corrupt one, or no config."""


class OutputDirError(UserError):
    """The output folder cannot be written, or already holds another run."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C so that ``except KeyboardInterrupt`` /
    ``finally`` blocks write their checkpoint before the process ends."""


def env_error_types() -> tuple[type[BaseException], ...]:
    """Exception types the environment registry raises for a bad env id, entry
    point or space; empty when the registry defines none."""
    try:
        import envs.registry as registry
    except Exception:  # the registry itself failing to import is reported where it is used
        return ()
    found = []
    for name in ("EnvError", "EnvNotFound", "EnvIdError", "EntryPointError", "UnsupportedSpaceError",
                 "RegistryError"):
        tp = getattr(registry, name, None)
        if isinstance(tp, type) and issubclass(tp, BaseException):
            found.append(tp)
    return tuple(found)


#: ``errno`` values of a full disk (or an exhausted quota).
DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def disk_full(err: BaseException | None) -> OSError | None:
    """The ``OSError`` of a full disk in ``err`` or its causes, else None."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in DISK_FULL:
            return err
        err = err.__cause__ or err.__context__
    return None
