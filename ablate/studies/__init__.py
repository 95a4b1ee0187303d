"""Ablation studies: one TOML file per study in studies/, run by Optuna, each trial an MLflow parent run of jobs.

The modules: `definition` (a study file, parsed and validated; its `space` and `objective`), `storage` (the
Optuna storage; create or join), `trial` (one trial), `heartbeats`, `workers`, `status`, `mlflow_run` (the study's
own run), `run` (`ablate study run`) and `dashboard`; `names` holds the names the Optuna study and the MLflow runs
share.

How a study runs, and the decisions behind it:
- Create or join: the Optuna study is named after the file and lives in an RDB storage (default `optuna.db` in the
  working directory, beside `mlflow.db`). Its settings (everything but the description and the trial count) are
  stored with it; a worker with other settings (say another `--budget`) is refused rather than mixed in. The worker
  that creates the study records them and the study's MLflow run; one joining that moment waits for both (up to
  CREATOR_WAIT_S) rather than recording its own beside them.
- Trial count: `n_trials` is the study's total over all workers and invocations. A trial counts whatever its end
  (complete, pruned, failed) and while it runs or waits; a trial failed because its worker died is replaced by its
  retry, which counts instead; a skipped duplicate (below) does not count. Workers check the count before starting
  a trial, so workers starting at the same instant can overshoot it by at most one trial each.
- Grids: trials claim the grid's points in one shuffled order (Optuna's GridSampler, one seed for all workers); a
  worker starts a trial only while some point is neither done nor taken, and a trial whose point an earlier trial
  already holds (two workers racing for the last point) is skipped before it trains. So no point is trained twice,
  and the study stops when the grid is done. `--n-trials` below the grid size runs part of it; running again
  without it finishes the grid.
- Killed workers: every running trial sends a heartbeat. The next worker to start a trial fails trials silent for
  longer than the grace period, ends their MLflow runs FAILED, and queues each again (at most MAX_RETRIES times);
  the retry reopens the same MLflow runs and continues the jobs from their checkpoints. Ctrl-C does the same at
  once: running jobs end KILLED and the trial is queued, so the next `study run` continues it.
- Pruning: see ablate.studies.trial.
- SQLite: every transaction takes the write lock when it begins and waits up to SQLITE_TIMEOUT_S for it, so several
  local workers neither fail with "database is locked" nor claim one queued trial twice. Many machines: PostgreSQL.
"""

from __future__ import annotations

import warnings

from optuna.exceptions import ExperimentalWarning

from ablate.studies.dashboard import serve_dashboard
from ablate.studies.definition import StudyDefinition, list_studies, load_study
from ablate.studies.names import EXPERIMENT, TAG_OVERRIDE, TAG_STATE, TAG_STUDY, TAG_TRIAL
from ablate.studies.run import StudyRequest, StudySummary, run_study
from ablate.studies.status import StudyStatus, TrialRow, study_status
from ablate.studies.storage import open_storage
from ablate.studies.trial import pruning_step

# Heartbeats, stale-trial retries and metric names are experimental in Optuna; they are what makes a killed worker
# recoverable here, so the warnings would only alarm.
warnings.filterwarnings("ignore", category=ExperimentalWarning)

__all__ = [
    "EXPERIMENT",
    "TAG_OVERRIDE",
    "TAG_STATE",
    "TAG_STUDY",
    "TAG_TRIAL",
    "StudyDefinition",
    "StudyRequest",
    "StudyStatus",
    "StudySummary",
    "TrialRow",
    "list_studies",
    "load_study",
    "open_storage",
    "pruning_step",
    "run_study",
    "serve_dashboard",
    "study_status",
]
