"""The MLflow contract of `ablate`: run names, tags, params, metrics, artifacts and run states, in one place.

Other tools (the MLflow UI, `mlflow.search_runs`, studies) rely on these names:
- a parent run per variant (or per study trial): tags `ablate.kind`, `ablate.variant`, `ablate.games`, `ablate.seeds`,
  `ablate.budget`, `ablate.config_hash`; params: the resolved config; metrics `hns/<aggregate>` with `_ci_low` and
  `_ci_high`, and `final/mean_return` (mean over games); artifact `scores.json` (the whole score report);
- a child run per (game, seed), named `VARIANT/GAME/seedS`, linked by `mlflow.parentRunId`: tags `ablate.kind=job`,
  `ablate.variant`, `ablate.game`, `ablate.seed`, `ablate.budget`, `ablate.config_hash`; params: the resolved config
  under dotted keys; metrics: the trainer's per-epoch diagnostics with step = environment steps (`eval/return`
  among them), then `final/mean_return` and `final/hns`; artifacts: config.json, result.json, eval_returns.csv,
  learning_curve.png, and checkpoint.pt when asked;
- every run: `mlflow.source.git.commit` and `ablate.version` tags; system metrics (`system/*`) while a job trains;
- states: FINISHED; FAILED with the reason in `ablate.error`; KILLED when stopped (Ctrl-C), continued on resume;
- the experiment: tags `mlflow.experimentKind` (MLflow 3's model-training pages) and `mlflow.sharedViewState.ablate`
  (the runs table `ablate ui` opens on: each run's score, budget and description first).

The modules: `names` (the names above and the tags of each kind of run), `store` (which store, checked; writes
retried while SQLite is locked) and `tracker` (the Tracker, which makes every write).
"""

from ablate.tracking.names import (
    EVAL_RETURN,
    EVAL_RETURNS_CSV,
    EXPERIMENT_KIND,
    EXPERIMENT_TAGS,
    FINAL_HNS,
    FINAL_MEAN_RETURN,
    LEARNING_CURVE_PNG,
    SCORES_JSON,
    TAG_BUDGET,
    TAG_CONFIG_HASH,
    TAG_DESCRIPTION,
    TAG_ERROR,
    TAG_EXPERIMENT_KIND,
    TAG_GAME,
    TAG_GAMES,
    TAG_KIND,
    TAG_OWNER_HOST,
    TAG_OWNER_PID,
    TAG_OWNER_STARTED,
    TAG_RUN_DIR,
    TAG_SEED,
    TAG_SEEDS,
    TAG_UI_VIEW,
    TAG_VARIANT,
    TAG_VERSION,
    UI_VIEW,
    Kind,
    Status,
    final_mean_return,
    job_run_name,
    job_tags,
    owner_tags,
    parent_tags,
)
from ablate.tracking.store import check_tracking_uri, git_commit, resolve_tracking_uri, retry_locked
from ablate.tracking.tracker import Tracker

__all__ = [
    "EVAL_RETURN",
    "EVAL_RETURNS_CSV",
    "EXPERIMENT_KIND",
    "EXPERIMENT_TAGS",
    "FINAL_HNS",
    "FINAL_MEAN_RETURN",
    "Kind",
    "LEARNING_CURVE_PNG",
    "SCORES_JSON",
    "Status",
    "TAG_BUDGET",
    "TAG_CONFIG_HASH",
    "TAG_DESCRIPTION",
    "TAG_ERROR",
    "TAG_EXPERIMENT_KIND",
    "TAG_GAME",
    "TAG_GAMES",
    "TAG_KIND",
    "TAG_OWNER_HOST",
    "TAG_OWNER_PID",
    "TAG_OWNER_STARTED",
    "TAG_RUN_DIR",
    "TAG_SEED",
    "TAG_SEEDS",
    "TAG_UI_VIEW",
    "TAG_VARIANT",
    "TAG_VERSION",
    "Tracker",
    "UI_VIEW",
    "check_tracking_uri",
    "final_mean_return",
    "git_commit",
    "job_run_name",
    "job_tags",
    "owner_tags",
    "parent_tags",
    "resolve_tracking_uri",
    "retry_locked",
]
