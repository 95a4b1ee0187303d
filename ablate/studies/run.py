"""`ablate study run`: create or join the study, run its workers, settle the trials whose worker died."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import TrialState

from ablate.errors import UsageError
from ablate.jedi.device import resolve_device
from ablate.studies import heartbeats
from ablate.studies.definition import StudyDefinition, load_study
from ablate.studies.heartbeats import _silent_trials
from ablate.studies.mlflow_run import _close_study_run, _open_study_run
from ablate.studies.names import EXPERIMENT
from ablate.studies.status import StudyStatus, _snapshot, _watching
from ablate.studies.storage import POLL_S, _create_or_join, open_storage, resolve_storage
from ablate.studies.workers import _run_workers, _WorkerSetup
from ablate.tracking import Status, Tracker

OUT_ROOT = Path("runs") / "studies"  # OUT_ROOT/STUDY/TRIAL_RUN_ID/VARIANT/GAME/seedS-HASH/RUN_ID, and worker logs


@dataclass
class StudyRequest:
    """The options of `ablate study run`, unvalidated."""

    name: str
    n_trials: int | None = None
    workers: int = 1
    storage: str | None = None
    budget: str | None = None
    games: str | None = None
    objective: str | None = None
    tracking_uri: str | None = None
    device: str = "auto"


@dataclass
class StudySummary:
    definition: StudyDefinition
    status: StudyStatus
    study_run_id: str
    tracking_uri: str
    interrupted: bool = False
    crashed_workers: int = 0
    logs: list[Path] = field(default_factory=list)
    running_elsewhere: list[int] = field(default_factory=list)  # trials other workers still run (heartbeats live)

    @property
    def exit_code(self) -> int:
        """0 when every trial has ended (failed ones included); 130 after Ctrl-C; 1 when a worker crashed or
        trials are still running elsewhere, so that the study is not complete yet."""
        if self.interrupted:
            return 130
        return 1 if self.crashed_workers or self.running_elsewhere else 0


def run_study(request: StudyRequest, on_progress: Callable[[StudyStatus], None] | None = None) -> StudySummary:
    """`ablate study run`: create or join the study and run trials in K workers until none is left to start."""
    if request.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {request.workers}")
    definition = load_study(
        request.name, budget=request.budget, games=request.games, objective=request.objective, n_trials=request.n_trials
    )
    resolve_device(request.device)
    url = resolve_storage(request.storage)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the live view replaces Optuna's log lines
    storage = open_storage(url)
    tracker = Tracker.open(EXPERIMENT, request.tracking_uri)
    study = _create_or_join(definition, storage, url)
    run_id = _open_study_run(tracker, study, definition, url)
    out_root = OUT_ROOT.resolve() / definition.name
    setup = _WorkerSetup(definition, url, tracker, request.device, out_root)
    interrupted, crashed = False, 0
    status: Status = "FAILED"  # unless the workers end normally or are stopped
    running: list[int] = []
    try:
        with _watching(study, url, on_progress):
            crashed = _run_workers(setup, request.workers)
            crashed += _wait_for_running_trials(setup, request.workers, study)
        running = [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]
        status = "FAILED" if crashed else "KILLED" if running else "FINISHED"
    except KeyboardInterrupt:
        interrupted, status = True, "KILLED"
    finally:
        _close_study_run(tracker, run_id, study, definition, status)
    logs = sorted(out_root.glob("worker*.log")) if request.workers > 1 else []
    return StudySummary(definition, _snapshot(study, url), run_id, tracker.uri, interrupted, crashed, logs, running)


def _wait_for_running_trials(setup: _WorkerSetup, workers: int, study: optuna.Study) -> int:
    """Once no trial is left to start, settle the trials still RUNNING; returns how many workers crashed.

    A trial whose worker died (here or on another machine) holds its point until its heartbeat is older than the
    grace period; this waits that out and runs the retry. A trial whose heartbeats keep coming is alive in
    another worker: after two heartbeat intervals it is left to that worker.
    """
    crashed, watched_since = 0, time.monotonic()
    while study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        silent = _silent_trials(study)
        if not silent and time.monotonic() - watched_since > 2 * heartbeats.HEARTBEAT_S + 2 * POLL_S:
            break
        if silent and max(silent.values()) > heartbeats.GRACE_S:
            crashed += _run_workers(setup, workers)  # a worker fails the stale trial and runs its retry
            watched_since = time.monotonic()
        time.sleep(POLL_S)
    return crashed
