"""One trial: the MLflow parent run of its (game, seed) jobs, their evaluations reported to the pruner, its score.

Pruning: the jobs of a trial run in one fixed (game, seed) order, and each evaluation during training is reported
at step k * (training.total_env_steps + training.final_epochs) + env_steps + f, k being the job's place in that
order and f how many of the final epochs (which collect nothing) have run, so their evaluations stay apart.
Trials compared at one step have therefore trained the same game and seed for the same number of steps; the
value is that job's evaluation return (negated when the study minimizes, since a higher return is always better).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from ablate.config import Config, resolve_config
from ablate.errors import UsageError
from ablate.jedi.trainer import EpochReport
from ablate.runner import Job, JobOutcome, JobStopped, Progress, close_parent, open_parent, run_children
from ablate.studies.definition import StudyDefinition
from ablate.studies.names import (
    ATTR_ERROR,
    ATTR_PROGRESS,
    ATTR_RUN_ID,
    ATTR_SKIPPED,
    OBJECTIVE_METRIC,
    TAG_OVERRIDE,
    TAG_STATE,
    TAG_STUDY,
    TAG_TRIAL,
)
from ablate.studies.objective import objective_value
from ablate.tracking import EVAL_RETURN, TAG_KIND, Status, Tracker, retry_locked


class TrialFailed(Exception):
    """A trial whose training failed or whose objective could not be computed: recorded FAILED, the study goes on."""


def _counted(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The trials that count toward n_trials: all but skipped duplicates and those replaced by a retry."""
    replaced = {number for t in trials for number in RetryHeartbeatStaleTrialCallback.retry_history(t)}
    return [t for t in trials if t.number not in replaced and ATTR_SKIPPED not in t.user_attrs]


def _point(params: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(params.items()))


def _end_runs(tracker: Tracker, run_id: str, status: Status, state: TrialState, error: str | None = None) -> None:
    """End a trial's run and its still-running jobs, with the Optuna state as a tag."""
    for child in tracker.find_runs({TAG_KIND: "job"}, parent_run_id=run_id):
        if child.info.status == "RUNNING":
            tracker.end_run(child.info.run_id, status, error)
    retry_locked(tracker.client.set_tag, run_id, TAG_STATE, state.name)
    tracker.end_run(run_id, status, error)


def _frozen(trial: optuna.Trial) -> FrozenTrial:
    return next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)


def pruning_step(config: Config, place: int, report: EpochReport) -> int:
    """The step at which the job in `place` of a trial's order reports an evaluation (see the module's docstring)."""
    tr = config.training
    final_epochs_run = max(0, report.epoch - (report.total_epochs - tr.final_epochs))
    return place * (tr.total_env_steps + tr.final_epochs) + report.env_steps + final_epochs_run


@dataclass(frozen=True)
class _Objective:
    """A trial: sample the overrides, train the (game, seed) jobs under one MLflow parent run, score them."""

    definition: StudyDefinition
    tracker: Tracker
    device: str
    out_root: Path
    retry: RetryHeartbeatStaleTrialCallback

    def __call__(self, trial: optuna.Trial) -> float:
        d = self.definition
        params = {axis.key: axis.suggest(trial) for axis in d.space}
        holder = self._holder(trial, params)
        if holder is not None:
            trial.set_user_attr(ATTR_SKIPPED, f"trial {holder} holds this point")
            raise optuna.TrialPruned(f"trial {holder} holds this point")
        overrides = {**d.overrides, **params}
        try:
            config = resolve_config(d.budget, overrides)
        except UsageError as err:  # a sampled combination the trainer refuses: nothing to train, nothing to record
            trial.set_user_attr(ATTR_ERROR, str(err))
            raise TrialFailed(str(err)) from None
        run_id, resumed = self._open_run(trial, config, params)
        try:
            outcomes = run_children(
                self.tracker,
                run_id,
                variant=d.variant,
                overrides=overrides,
                games=d.games,
                seeds=d.seeds,
                budget=d.budget,
                out_root=self.out_root / run_id,
                name_prefix=f"{d.name}/",
                resume=resumed,
                device=self.device,
                on_epoch=partial(self._epoch, trial, config),
                on_progress=partial(self._progress, trial),
            )
            return self._score(trial, run_id, list(outcomes.values()))
        except TrialFailed:
            raise  # recorded by _score
        except JobStopped as stop:
            _end_runs(self.tracker, run_id, "KILLED", TrialState.PRUNED)
            raise optuna.TrialPruned(str(stop)) from None
        except KeyboardInterrupt:
            _end_runs(self.tracker, run_id, "KILLED", TrialState.FAIL)
            self.retry(trial.study, _frozen(trial))  # queued first, so the retry does not inherit the error below
            trial.set_user_attr(ATTR_ERROR, "interrupted")
            raise
        except Exception as err:
            error = f"{type(err).__name__}: {err}"
            trial.set_user_attr(ATTR_ERROR, error)
            _end_runs(self.tracker, run_id, "FAILED", TrialState.FAIL, error)
            raise

    def _holder(self, trial: optuna.Trial, params: Mapping[str, Any]) -> int | None:
        """For exhaustive samplers, the earlier trial that already holds this point, if any."""
        if not self.definition.exhaustive:
            return None
        earlier = [t for t in _counted(trial.study.get_trials(deepcopy=False)) if t.number < trial.number]
        return next((t.number for t in earlier if _point(t.params) == _point(params)), None)

    def _open_run(self, trial: optuna.Trial, config: Config, params: Mapping[str, Any]) -> tuple[str, bool]:
        """The trial's MLflow parent run: a retry continues its killed predecessor's run, else a new one."""
        d, name = self.definition, f"{self.definition.name}/trial{trial.number}"
        previous = trial.user_attrs.get(ATTR_RUN_ID)
        if previous:
            self.tracker.reopen(retry_locked(self.tracker.client.get_run, previous))
            retry_locked(self.tracker.client.update_run, previous, name=name)
            retry_locked(self.tracker.client.set_tag, previous, TAG_TRIAL, str(trial.number))
            return previous, True
        tags = {
            TAG_STUDY: d.name,
            TAG_TRIAL: str(trial.number),
            **{TAG_OVERRIDE + key: str(value) for key, value in params.items()},
        }
        run_id = open_parent(
            self.tracker, d.variant, config, d.games, d.seeds, d.budget, kind="trial", name=name, extra_tags=tags
        )
        trial.set_user_attr(ATTR_RUN_ID, run_id)
        return run_id, False

    def _progress(self, trial: optuna.Trial, progress: Progress) -> None:
        """Note the running job and its epoch on the trial, where `study status` reads it from any machine."""
        for line in progress.running.values():
            job = f"job {progress.ended_jobs + 1}/{progress.total_jobs} {line.name}"
            note = f"{job}: epoch {line.epoch}/{line.total_epochs}"
            if trial.user_attrs.get(ATTR_PROGRESS) != note:  # work inside an epoch is reported twice a second
                trial.set_user_attr(ATTR_PROGRESS, note)

    def _epoch(self, trial: optuna.Trial, config: Config, job: Job, report: EpochReport) -> None:
        """Feed each evaluation to the pruner (see the module's docstring)."""
        d = self.definition
        if EVAL_RETURN not in report.metrics:
            return
        step = pruning_step(config, d.games.index(job.game) * len(d.seeds) + d.seeds.index(job.seed), report)
        sign = 1.0 if d.direction == "maximize" else -1.0
        trial.report(sign * report.metrics[EVAL_RETURN], step)
        if trial.should_prune():
            raise JobStopped(f"pruned at step {step} ({job.name}, evaluation return {report.metrics[EVAL_RETURN]:g})")

    def _score(self, trial: optuna.Trial, run_id: str, outcomes: list[JobOutcome]) -> float:
        d = self.definition
        _, report = close_parent(self.tracker, run_id, outcomes, jobs=len(d.games) * len(d.seeds))
        failed = [outcome for outcome in outcomes if outcome.status == "FAILED"]
        value = objective_value(report, d.objective) if report is not None and not failed else None
        if failed or value is None or not math.isfinite(value):
            error = (
                "; ".join(f"{o.job.name}: {o.error}" for o in failed)
                if failed
                else f"objective {d.objective} is {value} on these results"
            )
            trial.set_user_attr(ATTR_ERROR, error)
            _end_runs(self.tracker, run_id, "FAILED", TrialState.FAIL, error)
            raise TrialFailed(error)
        self.tracker.log_metrics(run_id, {OBJECTIVE_METRIC: value}, step=0)
        retry_locked(self.tracker.client.set_tag, run_id, TAG_STATE, TrialState.COMPLETE.name)
        return value
