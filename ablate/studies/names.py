"""The names the Optuna study and the MLflow runs share, so that each system points to the other."""

from __future__ import annotations

EXPERIMENT = "ablate"  # `ablate run`'s default experiment: trials sit beside the variants' runs

# Trial and study user attributes (what the Optuna dashboard shows) and MLflow names: each system points to the other.
ATTR_RUN_ID = "mlflow_run_id"
ATTR_ERROR = "error"
ATTR_SKIPPED = "skipped"
ATTR_PROGRESS = "progress"
ATTR_SETTINGS = "ablate.settings"
ATTR_N_TRIALS = "ablate.n_trials"
TAG_STUDY = "optuna.study"
TAG_TRIAL = "optuna.trial_number"
TAG_STATE = "optuna.state"
TAG_STORAGE = "optuna.storage"
TAG_OVERRIDE = "ablate.override."
OBJECTIVE_METRIC = "objective"
DEFINITION_JSON = "study.json"
PLOT_PNG = "objective_vs_params.png"
