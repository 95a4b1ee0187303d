"""The names of the MLflow contract (tags, metrics, artifacts, experiment tags) and the tags each kind of run gets."""

from __future__ import annotations

import json
from typing import Literal

from mlflow.entities import Run
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE

from ablate.locks import owner

Status = Literal["FINISHED", "FAILED", "KILLED"]
Kind = Literal["variant", "trial", "job"]

TAG_KIND = "ablate.kind"
TAG_VARIANT = "ablate.variant"
TAG_GAMES = "ablate.games"
TAG_SEEDS = "ablate.seeds"
TAG_GAME = "ablate.game"
TAG_SEED = "ablate.seed"
TAG_BUDGET = "ablate.budget"
TAG_CONFIG_HASH = "ablate.config_hash"
TAG_ERROR = "ablate.error"
TAG_VERSION = "ablate.version"
TAG_RUN_DIR = "ablate.run_dir"  # a job run's checkpoint, metrics.jsonl and job.log
TAG_OWNER_HOST = "ablate.owner_host"  # the process that trains (or last trained) the run
TAG_OWNER_PID = "ablate.owner_pid"
TAG_OWNER_STARTED = "ablate.owner_started"
TAG_DESCRIPTION = MLFLOW_RUN_NOTE  # the MLflow UI's description of a run: a parent's is its variant's

FINAL_MEAN_RETURN = "final/mean_return"
FINAL_HNS = "final/hns"
EVAL_RETURN = "eval/return"
EVAL_RETURNS_CSV = "eval_returns.csv"
LEARNING_CURVE_PNG = "learning_curve.png"
SCORES_JSON = "scores.json"

# How the MLflow UI shows the experiment: MLflow 3 opens it on its GenAI pages unless the experiment's kind (older
# releases) or the link (3.17, see `ui_server.runs_url`) says otherwise.
TAG_EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"  # "Machine learning" in the UI's kind selector
# A shared view (what the UI's Share button records) sets the runs table's columns for whoever opens its link.
UI_VIEW = "ablate"
TAG_UI_VIEW = f"mlflow.sharedViewState.{UI_VIEW}"
_UI_COLUMNS = [f"metrics.`{FINAL_MEAN_RETURN}`", f"tags.`{TAG_BUDGET}`", "attributes.`Description`"]
EXPERIMENT_TAGS = {
    TAG_EXPERIMENT_KIND: EXPERIMENT_KIND,
    TAG_UI_VIEW: json.dumps({"selectedColumns": _UI_COLUMNS, "columnOrder": _UI_COLUMNS}),
}


def parent_tags(
    kind: Kind, variant: str, games: list[str], seeds: list[int], budget: str, config_hash: str
) -> dict[str, str]:
    return {
        TAG_KIND: kind,
        TAG_VARIANT: variant,
        TAG_GAMES: ",".join(games),
        TAG_SEEDS: ",".join(map(str, seeds)),
        TAG_BUDGET: budget,
        TAG_CONFIG_HASH: config_hash,
    }


def job_tags(variant: str, game: str, seed: int, budget: str, config_hash: str) -> dict[str, str]:
    return {
        TAG_KIND: "job",
        TAG_VARIANT: variant,
        TAG_GAME: game,
        TAG_SEED: str(seed),
        TAG_BUDGET: budget,
        TAG_CONFIG_HASH: config_hash,
    }


def owner_tags() -> dict[str, str]:
    """This process as the owner of the runs it opens (see `orphaned_runs`)."""
    me = owner()
    return {TAG_OWNER_HOST: me["host"], TAG_OWNER_PID: me["pid"], TAG_OWNER_STARTED: me["started"]}


def job_run_name(variant: str, game: str, seed: int) -> str:
    return f"{variant}/{game}/seed{seed}"


def final_mean_return(run: Run) -> float | None:
    """A finished child run's score, as `ablate run` logged it."""
    return run.data.metrics.get(FINAL_MEAN_RETURN)
