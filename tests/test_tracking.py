"""The MLflow contract's plumbing: URI resolution, the store, lock retries, concurrent writers, system metrics, UI."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

import ablate.tracking as tracking
from ablate.errors import UsageError
from ablate.tracking import Tracker, resolve_tracking_uri, retry_locked
from ablate.ui_server import serve_ui


def test_tracking_uri_option_then_environment_then_working_directory(
    uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve_tracking_uri() == uri
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    assert resolve_tracking_uri() == "sqlite:///elsewhere.db"
    assert resolve_tracking_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_retry_locked_backs_off_on_lock_errors_only(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(tracking.store.time, "sleep", sleeps.append)
    calls = iter([RuntimeError("(sqlite3.OperationalError) database is locked")] * 3 + ["ok"])

    def flaky() -> str:
        outcome = next(calls)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert retry_locked(flaky) == "ok"
    assert len(sleeps) == 3 and sleeps[0] < sleeps[2]  # exponential, even with jitter

    def broken() -> None:
        raise ValueError("no such table")

    with pytest.raises(ValueError):
        retry_locked(broken)
    assert len(sleeps) == 3  # other errors are not retried

    def locked() -> None:
        raise RuntimeError("database is locked")

    with pytest.raises(RuntimeError, match="locked"):
        retry_locked(locked)  # a lock that never clears is finally reported


def test_open_creates_the_store_once_and_reuses_the_experiment(uri: str, tmp_path: Path) -> None:
    first = Tracker.open("ablate", uri)
    assert (tmp_path / "mlflow.db").exists()
    assert Tracker.open("ablate", uri) == first
    MlflowClient(uri).delete_experiment(first.experiment_id)
    with pytest.raises(UsageError, match="experiment 'ablate' was deleted"):
        Tracker.open("ablate", uri)


def test_run_states_and_error_tag(uri: str) -> None:
    tracker = Tracker.open("ablate", uri)
    run_id = tracker.start_run("x", {"ablate.kind": "job"})
    tracker.end_run(run_id, "FAILED", "TrainingError: non-finite loss")
    run = tracker.client.get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags[tracking.TAG_ERROR] == "TrainingError: non-finite loss"
    assert run.data.tags[tracking.TAG_VERSION]
    tracker.reopen(run)  # a resumed run is RUNNING again, without its old error
    run = tracker.client.get_run(run_id)
    assert run.info.status == "RUNNING" and tracking.TAG_ERROR not in run.data.tags
    assert [r.info.run_id for r in tracker.find_runs({"ablate.kind": "job"})] == [run_id]


def test_resume_or_start_reopens_the_newest_run_with_the_same_tags(uri: str) -> None:
    tracker = Tracker.open("ablate", uri)
    tags = {"ablate.kind": "job", "ablate.game": "catch"}
    first, reopened = tracker.resume_or_start("a", tags, resume=True)
    assert not reopened
    tracker.end_run(first, "KILLED")
    again, reopened = tracker.resume_or_start("a", tags, resume=True)
    assert (again, reopened) == (first, True) and tracker.client.get_run(first).info.status == "RUNNING"
    fresh, reopened = tracker.resume_or_start("a", tags, resume=False)
    assert fresh != first and not reopened
    other, reopened = tracker.resume_or_start("b", {**tags, "ablate.game": "Pong"}, resume=True)
    assert other not in (first, fresh) and not reopened
    parent = tracker.start_run("p", {"ablate.kind": "variant"})
    child, reopened = tracker.resume_or_start("a", tags, resume=True, parent_run_id=parent)
    assert child not in (first, fresh) and not reopened  # under another parent, the job starts anew


def _writer(tracker: Tracker, index: int, batches: int) -> None:
    run_id = tracker.start_run(f"writer{index}", {"ablate.kind": "job"})
    for step in range(batches):
        tracker.log_metrics(run_id, {"a": step, "b": -step, "c": index}, step=step)
    tracker.end_run(run_id, "FINISHED")


@pytest.mark.slow
def test_concurrent_writers_share_one_sqlite_file(uri: str) -> None:
    tracker = Tracker.open("ablate", uri)  # the schema exists before any writer starts
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_writer, args=(tracker, i, 40)) for i in range(3)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
    assert [process.exitcode for process in writers] == [0, 0, 0]
    runs = tracker.find_runs({"ablate.kind": "job"})
    assert len(runs) == 3 and all(run.info.status == "FINISHED" for run in runs)
    assert all(len(tracker.client.get_metric_history(run.info.run_id, "a")) == 40 for run in runs)


@pytest.mark.slow
def test_system_metrics_are_logged_while_a_job_runs(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    tracker = Tracker.open("ablate", uri)
    run_id = tracker.start_run("x", {})
    with tracker.system_metrics(run_id, resume=False):
        # The monitor's thread logs its first samples when it gets the CPU: on a loaded machine that takes seconds.
        deadline = time.monotonic() + 60
        while "system/cpu_utilization_percentage" not in tracker.client.get_run(run_id).data.metrics:
            assert time.monotonic() < deadline, "no system metrics logged within 60 s"
            time.sleep(0.2)
    metrics = tracker.client.get_run(run_id).data.metrics
    assert "system/cpu_utilization_percentage" in metrics and "system/system_memory_usage_megabytes" in metrics


def test_ui_of_a_tracking_server_that_does_not_answer_is_one_line() -> None:
    with pytest.raises(UsageError, match="no tracking server answers there"):
        serve_ui("http://127.0.0.1:9", None, print)  # port 9 (discard) has no server on a test machine


@pytest.mark.parametrize(
    ("make_uri", "message"),
    [
        (lambda d: f"sqlite:///{d}", "names a directory"),
        (lambda d: f"sqlite:///{d}/notes.txt", "is not an SQLite database"),
        (lambda d: "sqlite//x", "is not a database or tracking-server URI"),
        (lambda d: f"file://{d}/mlruns", "is not a database or tracking-server URI"),
        (lambda d: "http://127.0.0.1:9", "no tracking server answers there"),
    ],
)
def test_a_bad_tracking_uri_is_one_line_within_seconds(tmp_path: Path, make_uri, message: str) -> None:
    (tmp_path / "notes.txt").write_text("not a database")
    started = time.monotonic()
    with pytest.raises(UsageError, match=message) as raised:
        Tracker.open("ablate", make_uri(tmp_path))
    assert "--tracking-uri" in str(raised.value) and "\n" not in str(raised.value)
    assert time.monotonic() - started < 15
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_an_unwritable_sqlite_store_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracking.store.os, "access", lambda path, mode: False)  # a read-only mount, even for root
    with pytest.raises(UsageError, match="cannot be written here"):
        Tracker.open("ablate", f"sqlite:///{tmp_path}/mlflow.db")
