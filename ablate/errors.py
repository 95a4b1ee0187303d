"""The error types the CLI turns into one line: bad input (exit code 2) and a full disk (exit code 1)."""

from __future__ import annotations

import difflib
import errno
from collections.abc import Iterable

_DISK_FULL_MESSAGES = ("no space left on device", "database or disk is full", "file write failed")


class UsageError(ValueError):
    """Bad input: a one-line message that says what is wrong and how to fix it."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """ " (did you mean 'x'?)" for the closest of `choices` to a mistyped `name`, or "" when none is close."""
    match = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean '{match[0]}'?)" if match else ""


class DiskFull(RuntimeError):
    """A write failed for want of space; the runs it stopped ended KILLED and continue with --resume."""


def is_disk_full(err: BaseException) -> bool:
    """Whether `err`, or an exception it was raised from, is a write that ran out of space.

    SQLite, MLflow and torch.save wrap ENOSPC in exceptions of their own, so their messages are read too.
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            return True
        if any(message in str(current).lower() for message in _DISK_FULL_MESSAGES):
            return True
        current = current.__cause__ or current.__context__
    return False
