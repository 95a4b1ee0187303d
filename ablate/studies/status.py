"""A study's status as its storage holds it: a row per trial and the best one, also reported while it runs."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from ablate.studies import heartbeats
from ablate.studies.heartbeats import silences
from ablate.studies.names import ATTR_ERROR, ATTR_N_TRIALS, ATTR_PROGRESS, ATTR_RUN_ID, ATTR_SETTINGS, ATTR_SKIPPED
from ablate.studies.storage import POLL_S, _load, resolve_storage, shown_storage
from ablate.studies.trial import _counted
from ablate.tracking import retry_locked


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: str  # COMPLETE, PRUNED, FAIL, RUNNING, WAITING, or SKIPPED for a duplicate grid point
    params: dict[str, Any]
    value: float | None
    run_id: str | None
    duration_s: float | None
    note: str  # the failure, where it was pruned, a running trial's progress, a retry


@dataclass(frozen=True)
class StudyStatus:
    name: str
    storage: str
    objective: str
    direction: str
    n_trials: int | None  # the target of the latest `study run`
    done: int  # finished trials that count toward it
    trials: list[TrialRow]
    best: TrialRow | None


def _snapshot(study: optuna.Study, url: str) -> StudyStatus:
    trials = study.get_trials(deepcopy=False)
    retried_as = {
        RetryHeartbeatStaleTrialCallback.retry_history(t)[-1]: t.number
        for t in trials
        if RetryHeartbeatStaleTrialCallback.retry_history(t)
    }
    silent = silences(study)
    rows = {t.number: _row(t, retried_as.get(t.number), silent.get(t.number)) for t in trials}
    settings = json.loads(study.user_attrs.get(ATTR_SETTINGS, "{}"))
    done = sum(t.state.is_finished() for t in _counted(trials))
    best = rows[study.best_trial.number] if any(t.state == TrialState.COMPLETE for t in trials) else None
    return StudyStatus(
        study.study_name,
        shown_storage(url),
        settings.get("objective", "?"),
        study.direction.name.lower(),
        study.user_attrs.get(ATTR_N_TRIALS),
        done,
        list(rows.values()),
        best,
    )


def _row(trial: FrozenTrial, retried_as: int | None, silent: float | None) -> TrialRow:
    attrs = trial.user_attrs
    state = "SKIPPED" if ATTR_SKIPPED in attrs else trial.state.name
    end = trial.datetime_complete or (datetime.now() if trial.state == TrialState.RUNNING else None)
    duration = (end - trial.datetime_start).total_seconds() if end and trial.datetime_start else None
    if retried_as is not None:
        note = f"retried as trial {retried_as}" + (
            f" ({attrs[ATTR_ERROR]})" if ATTR_ERROR in attrs else " (its worker stopped)"
        )
    elif state == "SKIPPED":
        note = attrs[ATTR_SKIPPED]
    elif trial.state == TrialState.FAIL:
        note = attrs.get(ATTR_ERROR, "its worker stopped")
    elif trial.state == TrialState.PRUNED and trial.intermediate_values:
        step = max(trial.intermediate_values)
        note = f"pruned at step {step:,} (value {trial.intermediate_values[step]:.3g})"
    elif trial.state == TrialState.RUNNING:
        note = attrs.get(ATTR_PROGRESS, "starting")
        if silent is not None and silent > 2 * heartbeats.HEARTBEAT_S:
            note += f"; silent for {silent:.0f} s (retried after {heartbeats.GRACE_S} s)"
    elif trial.state == TrialState.WAITING and RetryHeartbeatStaleTrialCallback.retry_history(trial):
        note = f"queued to continue trial {RetryHeartbeatStaleTrialCallback.retry_history(trial)[-1]}"
    else:
        note = ""
    return TrialRow(trial.number, state, dict(trial.params), trial.value, attrs.get(ATTR_RUN_ID), duration, note)


def study_status(name: str, storage: str | None = None) -> StudyStatus:
    """`ablate study status`: the trials of a study as its storage holds them, and the best one."""
    url = resolve_storage(storage)
    study, _ = _load(name, url)
    return _snapshot(study, url)


@contextmanager
def _watching(study: optuna.Study, url: str, on_progress: Callable[[StudyStatus], None] | None) -> Iterator[None]:
    """Report the study's state every POLL_S seconds from a thread while the body runs."""
    if on_progress is None:
        yield
        return
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(POLL_S):
            on_progress(retry_locked(_snapshot, study, url))

    thread = threading.Thread(target=poll, name="study-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
