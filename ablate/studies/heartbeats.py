"""Heartbeats: how often running trials send them, when a silent trial is taken for dead and retried."""

from __future__ import annotations

import optuna
import sqlalchemy
from optuna.storages import RDBStorage
from optuna.storages._rdb import models
from optuna.trial import TrialState

from ablate.tracking import retry_locked

HEARTBEAT_S = 30
GRACE_S = 180  # a running trial silent this long is taken for dead
MAX_RETRIES = 3  # a trial whose worker keeps dying (out of memory, say) then stays failed


def silences(study: optuna.Study) -> dict[int, float]:
    """Seconds since each running trial's last heartbeat, by trial number (trials yet to beat are left out).

    Optuna keeps heartbeats in a table of its own and has no public reader for it; this reads that table.
    """
    storage = getattr(study._storage, "_backend", study._storage)  # optuna.load_study wraps it in a cache
    if not isinstance(storage, RDBStorage):
        return {}
    with storage.scoped_session() as session:
        now = session.execute(sqlalchemy.func.now()).scalar_one().replace(tzinfo=None)
        rows = (
            session.query(models.TrialModel.number, models.TrialHeartbeatModel.heartbeat)
            .join(models.TrialHeartbeatModel, models.TrialHeartbeatModel.trial_id == models.TrialModel.trial_id)
            .filter(models.TrialModel.study_id == study._study_id, models.TrialModel.state == TrialState.RUNNING)
            .all()
        )
    return {number: (now - beat).total_seconds() for number, beat in rows}


def _silent_trials(study: optuna.Study) -> dict[int, float]:
    """Running trials that missed their heartbeats: their worker is likely dead, and Optuna retries them once
    they have been silent for the grace period."""
    return {number: silent for number, silent in retry_locked(silences, study).items() if silent > 2 * HEARTBEAT_S}
