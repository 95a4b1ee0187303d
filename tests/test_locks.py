"""Inter-process locks: released by their holder's death, and a taken one names its holder."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from ablate.errors import UsageError
from ablate.locks import JobLock, schema_lock, sqlite_path, wait_for_trainer

_HOLD = """
import sys, time
from pathlib import Path
from ablate.locks import JobLock, trainer_lock
job_dir = Path(sys.argv[1])
lock = JobLock(job_dir)  # kept: a collected FileLock lets go
lock.acquire()
with trainer_lock(job_dir):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(job_dir: Path, seconds: float) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(job_dir), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline() == "held\n"
    return process


def test_a_taken_job_lock_names_its_holder_and_is_free_once_the_holder_is_killed(tmp_path: Path) -> None:
    holder = _holder(tmp_path, 60)
    with pytest.raises(UsageError, match=f"is being trained by pid {holder.pid} on "):
        JobLock(tmp_path).acquire()
    holder.kill()
    holder.wait()
    lock = JobLock(tmp_path)
    lock.acquire()  # SIGKILL released it: nothing to clean
    lock.release()


@pytest.mark.slow
def test_opening_a_job_waits_for_a_trainer_that_outlived_its_owner(tmp_path: Path) -> None:
    holder = _holder(tmp_path, 2)
    started = time.monotonic()
    wait_for_trainer(tmp_path)
    assert holder.poll() is not None or time.monotonic() - started > 1  # it waited for the trainer to end
    holder.wait()


def test_the_schema_lock_is_per_sqlite_file_and_nothing_elsewhere(tmp_path: Path) -> None:
    assert sqlite_path(f"sqlite:///{tmp_path}/mlflow.db") == tmp_path / "mlflow.db"
    assert sqlite_path("postgresql://u@h/db") is None and sqlite_path("http://127.0.0.1:5000") is None
    with schema_lock(f"sqlite:///{tmp_path}/mlflow.db"), schema_lock("http://127.0.0.1:5000"):
        pass
