"""The MLflow store: which URI, refused in one line when MLflow could not use it, and writes retried while SQLite is
locked."""

from __future__ import annotations

import functools
import logging
import os
import random
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import ablate
from ablate.errors import UsageError
from ablate.locks import sqlite_path

# MLflow's INFO lines (schema creation, system-metrics start/stop per job) would drown the live progress view.
logging.getLogger("mlflow").setLevel(logging.WARNING)
# It logs every failed query with its traceback before raising it; `ablate` reports the error once, itself.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)

_RETRIES = 8
T = TypeVar("T")


def resolve_tracking_uri(uri: str | None = None) -> str:
    """`--tracking-uri`, else `MLFLOW_TRACKING_URI`, else `mlflow.db` in the working directory."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


_SERVER_SCHEMES = ("http", "https")
_DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
_REACH_TIMEOUT_S = 5.0


def check_tracking_uri(uri: str) -> None:
    """Refuse, in seconds and in one line, a store MLflow would retry for minutes or fail on with a traceback."""
    scheme = uri.partition("://")[0].split("+")[0] if "://" in uri else ""
    if scheme not in _SERVER_SCHEMES + _DATABASE_SCHEMES:
        raise UsageError(
            f"--tracking-uri '{uri}' is not a database or tracking-server URI; give e.g. "
            "sqlite:///mlflow.db, postgresql://user@host/db or http://host:5000"
        )
    if scheme in _SERVER_SCHEMES:
        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=_REACH_TIMEOUT_S):
                pass
        except urllib.error.HTTPError:
            pass  # it answers; a proxy in front of it may not know /health
        except (OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            raise UsageError(
                f"--tracking-uri {uri}: no tracking server answers there ({reason}); start one with "
                "`mlflow server` or check the address"
            ) from None
        return
    path = sqlite_path(uri)
    if scheme != "sqlite" or path is None:
        return
    if path.is_dir():
        raise UsageError(
            f"--tracking-uri {uri} names a directory; name a database file in it, e.g. sqlite:///{path / 'mlflow.db'}"
        )
    if path.exists():
        with open(path, "rb") as f:
            header = f.read(16)
        if header and header != b"SQLite format 3\0":
            raise UsageError(
                f"--tracking-uri {uri}: {path} is not an SQLite database; name a new file or an MLflow store"
            )
        writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    else:
        existing = next(p for p in (path.parent, *path.parents) if p.exists())
        writable = existing.is_dir() and os.access(existing, os.W_OK)
    if not writable:
        raise UsageError(
            f"--tracking-uri {uri}: {path} cannot be written here (read-only or no permission); "
            "name a writable location"
        )


def retry_locked(call: Callable[..., T], *args, **kwargs) -> T:
    """Call an MLflow function, retrying with exponential backoff while SQLite says "database is locked".

    SQLite admits one writer at a time; with several job processes a write can outlast the busy timeout.
    A locked write was rolled back, so repeating it is safe.
    """
    for attempt in range(_RETRIES - 1):
        try:
            return call(*args, **kwargs)
        except Exception as err:
            if "database is locked" not in str(err):
                raise
        time.sleep(0.1 * 2**attempt * random.uniform(0.5, 1.5))  # jitter keeps writers from colliding again
    return call(*args, **kwargs)  # the last attempt's error, if any, is the caller's


@functools.cache
def git_commit() -> str | None:
    """The commit of the checkout `ablate` runs from, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(ablate.__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
