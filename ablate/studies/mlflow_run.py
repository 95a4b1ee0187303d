"""The study's own MLflow run: its definition, then the best trial and a plot of the objective against each
swept parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from matplotlib.figure import Figure
from mlflow.entities import RunTag
from optuna.trial import FrozenTrial, TrialState

from ablate.studies.definition import StudyDefinition
from ablate.studies.names import ATTR_RUN_ID, DEFINITION_JSON, PLOT_PNG, TAG_STORAGE, TAG_STUDY
from ablate.studies.space import Axis, Categorical
from ablate.studies.storage import shown_storage
from ablate.tracking import TAG_KIND, Status, Tracker, retry_locked


def _open_study_run(tracker: Tracker, study: optuna.Study, definition: StudyDefinition, url: str) -> str:
    """The study's own run (found again when the study is joined), holding its definition; RUNNING while it runs."""
    tags = {TAG_KIND: "study", TAG_STUDY: definition.name, TAG_STORAGE: shown_storage(url)}
    run_id, _ = tracker.resume_or_start(definition.name, tags, resume=True)
    document = {
        "name": definition.name,
        "description": definition.description,
        "n_trials": definition.n_trials,
        "grid_size": definition.grid_size,
        **definition.settings(),
    }
    retry_locked(tracker.client.log_dict, run_id, document, DEFINITION_JSON)
    study.set_user_attr(ATTR_RUN_ID, run_id)
    return run_id


def _close_study_run(
    tracker: Tracker, run_id: str, study: optuna.Study, definition: StudyDefinition, status: Status
) -> None:
    """Record the best trial so far and the objective against each swept parameter, then end the run."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if complete:
        best = study.best_trial
        assert best.value is not None  # a complete trial of a single-objective study has its value
        tracker.log_metrics(
            run_id, {"best/objective": best.value, "trials/complete": len(complete)}, step=len(complete)
        )
        tags = {
            "optuna.best_trial": str(best.number),
            "optuna.best_run_id": best.user_attrs.get(ATTR_RUN_ID, ""),
            **{f"optuna.best.{key}": str(value) for key, value in best.params.items()},
        }
        retry_locked(tracker.client.log_batch, run_id, tags=[RunTag(key, value) for key, value in tags.items()])
        retry_locked(tracker.client.log_figure, run_id, objective_figure(definition, complete, best), PLOT_PNG)
    tracker.end_run(run_id, status)


def objective_figure(definition: StudyDefinition, trials: Sequence[FrozenTrial], best: FrozenTrial) -> Figure:
    """One panel per swept parameter: each complete trial's objective against the parameter's value."""
    figure = Figure(figsize=(4.5 * len(definition.space), 4))  # a bare Figure renders with Agg, no pyplot state
    for ax, axis in zip(figure.subplots(1, len(definition.space), squeeze=False)[0], definition.space, strict=True):
        ax.scatter([_position(axis, t.params[axis.key]) for t in trials], [t.value for t in trials], alpha=0.7)
        ax.scatter(
            [_position(axis, best.params[axis.key])], [best.value], color="black", marker="*", s=150, label="best"
        )
        if isinstance(axis, Categorical):
            ax.set_xticks(range(len(axis.values)), [str(v) for v in axis.values], rotation=30)
        elif axis.log:
            ax.set_xscale("log")
        ax.set(xlabel=axis.key, ylabel=f"{definition.objective} ({definition.direction})")
        ax.grid(alpha=0.3)
        ax.legend()
    figure.suptitle(f"study {definition.name}: {len(trials)} complete trials")
    figure.tight_layout()
    return figure


def _position(axis: Axis, value: Any) -> Any:
    """Where a value goes on the x axis: a list's values sit in their declared order, numbers at themselves."""
    return axis.values.index(value) if isinstance(axis, Categorical) else value
