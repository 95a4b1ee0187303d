"""Inter-process locks: one process creates a fresh SQLite store's schema, one invocation trains a job.

Both are `flock` locks (through `filelock`), which the operating system releases when their holder dies, even
by SIGKILL: a lock can never outlive its owner and need no cleaning.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import sqlalchemy
from filelock import FileLock, Timeout

from ablate.errors import UsageError

_SCHEMA_LOCK_TIMEOUT_S = 300.0  # MLflow's migrations of a fresh store take seconds; a minute on a busy machine


def sqlite_path(url: str) -> Path | None:
    """The database file of an SQLite URL (MLflow's or SQLAlchemy's), None for any other store."""
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).expanduser().resolve()


@contextmanager
def schema_lock(url: str) -> Iterator[None]:
    """Held while a store is opened for the first time in a process: SQLite migrates a fresh file's schema then,
    and two processes migrating one file at once leave it half-migrated. Server stores serialise themselves."""
    path = sqlite_path(url)
    if path is None:
        yield
        return
    # In the temporary directory, named after the database: no stray file beside a user's mlflow.db.
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    with FileLock(Path(tempfile.gettempdir()) / f"ablate-schema-{digest}.lock", timeout=_SCHEMA_LOCK_TIMEOUT_S):
        yield


def owner() -> dict[str, str]:
    """This process as the owner of a lock or a run: host, pid and when the process started."""
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(psutil.Process().create_time()))
    return {"host": socket.gethostname(), "pid": str(os.getpid()), "started": started}


def owner_alive(host: str, pid: str, started: str) -> bool | None:
    """Whether the recorded owner still runs: None when it is on another host, which cannot be told from here."""
    if host != socket.gethostname():
        return None
    try:
        process = psutil.Process(int(pid))
        return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(process.create_time())) == started
    except (psutil.Error, ValueError):
        return False


class JobLock:
    """Held by the invocation that trains a job, for the job's whole life; the holder's host, pid and start time
    are in the lock file for whoever finds it taken."""

    FILE = "job.lock"

    def __init__(self, job_dir: Path) -> None:
        self.path = job_dir / self.FILE
        self._lock = FileLock(job_dir / (self.FILE + ".flock"), timeout=0)

    def acquire(self) -> None:
        """Take the lock or raise UsageError naming its holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            raise UsageError(
                f"{self.path.parent} is being trained by {self.holder()}; wait for it to end, or stop "
                "it (Ctrl-C there, or kill that pid) and run again with --resume"
            ) from None
        self.path.write_text(json.dumps(owner()))

    def holder(self) -> str:
        try:
            holder = json.loads(self.path.read_text())
            return f"pid {holder['pid']} on {holder['host']} (started {holder['started']})"
        except (OSError, ValueError, KeyError):
            return "another process"

    def release(self) -> None:
        self._lock.release()


@contextmanager
def job_locks(job_dirs: Iterable[Path]) -> Iterator[None]:
    """Hold the lock of every job directory, or of none: UsageError (naming the holder) if one is taken."""
    held: list[JobLock] = []
    try:
        for job_dir in dict.fromkeys(job_dirs):
            lock = JobLock(job_dir)
            lock.acquire()
            held.append(lock)
        yield
    finally:
        for lock in held:
            lock.release()


_TRAINER_FILE = "trainer.flock"
_TRAINER_WAIT_S = 120.0  # a stopped trainer ends its run and exits within seconds; a stuck one is killed by then


@contextmanager
def trainer_lock(job_dir: Path) -> Iterator[None]:
    """Held by the process that trains the job: it may outlive the job lock's holder by the seconds it takes to
    notice that its parent died and to end its run."""
    job_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(job_dir / _TRAINER_FILE, timeout=_TRAINER_WAIT_S):
        yield


def wait_for_trainer(job_dir: Path) -> None:
    """Return once no process trains in `job_dir` (an orphan of a dead invocation finishing its bookkeeping)."""
    if (job_dir / _TRAINER_FILE).exists():
        try:
            with FileLock(job_dir / _TRAINER_FILE, timeout=_TRAINER_WAIT_S):
                pass
        except Timeout:
            raise UsageError(
                f"a process still trains in {job_dir} after {_TRAINER_WAIT_S:.0f} s; "
                "find it with `ps` and stop it, then run again with --resume"
            ) from None
