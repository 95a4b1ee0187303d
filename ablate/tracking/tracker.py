"""The Tracker: one experiment in one MLflow store, and every write `ablate` makes to it."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.entities import Experiment, Metric, Param, Run
from mlflow.exceptions import MlflowException
from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT, MLFLOW_PARENT_RUN_ID

import ablate
from ablate.config import Config
from ablate.errors import UsageError
from ablate.games import references
from ablate.jedi.outputs import CHECKPOINT, CONFIG, RESULT, RunResult
from ablate.locks import owner_alive, schema_lock
from ablate.scoring import ScoreReport
from ablate.tracking.names import (
    EVAL_RETURN,
    EVAL_RETURNS_CSV,
    EXPERIMENT_TAGS,
    FINAL_HNS,
    FINAL_MEAN_RETURN,
    LEARNING_CURVE_PNG,
    SCORES_JSON,
    TAG_ERROR,
    TAG_OWNER_HOST,
    TAG_OWNER_PID,
    TAG_OWNER_STARTED,
    TAG_VERSION,
    Status,
)
from ablate.tracking.store import check_tracking_uri, git_commit, resolve_tracking_uri, retry_locked

_MAX_TAG = 5000  # MLflow caps tag values; an error message is cut to fit


def _create_experiment(client: MlflowClient, name: str) -> Experiment:
    """Create the experiment; on a server store another machine may win the race, and its experiment is read."""
    try:
        client.create_experiment(name, tags=EXPERIMENT_TAGS)
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None  # created above, here or elsewhere
    return experiment


@dataclass(frozen=True)
class Tracker:
    """One experiment in one MLflow store. Plain data, so job processes receive it and open their own client."""

    uri: str
    experiment_id: str

    @classmethod
    def open(cls, experiment: str, uri: str | None = None) -> Tracker:
        """Create the store's schema and the experiment; call once, before any job process starts."""
        uri = resolve_tracking_uri(uri)
        check_tracking_uri(uri)
        # Several invocations may open a fresh store at once: one creates its schema and the experiment, the
        # others then read them.
        with schema_lock(uri):
            try:
                client = MlflowClient(uri)
                found = client.get_experiment_by_name(experiment)  # the first access creates the schema
                if found is None:
                    found = _create_experiment(client, experiment)
            except MlflowException as err:
                raise UsageError(f"cannot open tracking store '{uri}': {str(err).splitlines()[0]}") from None
        if found.lifecycle_stage == "deleted":
            raise UsageError(
                f"experiment '{experiment}' was deleted; restore it in the MLflow UI or choose another --experiment"
            )
        return cls(uri, found.experiment_id)

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(self.uri)  # cheap: MLflow caches the store per URI

    def start_run(
        self, name: str, tags: Mapping[str, str], *, config: Config | None = None, parent_run_id: str | None = None
    ) -> str:
        """A RUNNING run with the common tags, and the resolved config as params."""
        tags = {**tags, TAG_VERSION: ablate.__version__}
        commit = git_commit()
        if commit:
            tags[MLFLOW_GIT_COMMIT] = commit
        if parent_run_id:
            tags[MLFLOW_PARENT_RUN_ID] = parent_run_id
        run = retry_locked(self.client.create_run, self.experiment_id, tags=tags, run_name=name)
        if config is not None:
            params = [Param(key, str(value)) for key, value in config.flat().items()]
            retry_locked(self.client.log_batch, run.info.run_id, params=params)
        return run.info.run_id

    def find_runs(self, tags: Mapping[str, str], *, parent_run_id: str | None = None) -> list[Run]:
        """Live runs carrying all of `tags` (and under `parent_run_id` if given), newest first."""
        if parent_run_id:
            tags = {**tags, MLFLOW_PARENT_RUN_ID: parent_run_id}
        query = " and ".join(f"tags.`{key}` = '{value}'" for key, value in tags.items())
        return list(
            retry_locked(self.client.search_runs, [self.experiment_id], query, order_by=["attributes.start_time DESC"])
        )

    def reopen(self, run: Run) -> None:
        """Mark an ended run RUNNING again, to continue it (resume) instead of starting a duplicate."""
        retry_locked(self.client.update_run, run.info.run_id, status="RUNNING")
        if TAG_ERROR in run.data.tags:
            retry_locked(self.client.delete_tag, run.info.run_id, TAG_ERROR)

    def resume_or_start(
        self,
        name: str,
        tags: Mapping[str, str],
        *,
        resume: bool,
        config: Config | None = None,
        parent_run_id: str | None = None,
        found: Sequence[Run] | None = None,
    ) -> tuple[str, bool]:
        """The resume rule, in one place: with `resume`, the newest live run carrying `tags` (under `parent_run_id`
        if given) is reopened RUNNING and continued; otherwise, or when there is none, a new run starts.

        Returns the run's id and whether it was reopened. `found` passes runs the caller already searched for
        with the same tags, newest first, so that it can act on them (reuse a finished job) before this rule does.
        """
        if resume:
            previous = self.find_runs(tags, parent_run_id=parent_run_id) if found is None else found
            if previous:
                self.reopen(previous[0])
                return previous[0].info.run_id, True
        return self.start_run(name, tags, config=config, parent_run_id=parent_run_id), False

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            retry_locked(self.client.set_tag, run_id, key, value)

    def orphaned_runs(self) -> list[Run]:
        """RUNNING runs of this experiment whose owner process is gone (killed outright, or its machine lost)."""
        running = retry_locked(self.client.search_runs, [self.experiment_id], "attributes.status = 'RUNNING'")
        return [
            run
            for run in running
            if TAG_OWNER_PID in run.data.tags
            and owner_alive(
                run.data.tags.get(TAG_OWNER_HOST, ""),
                run.data.tags[TAG_OWNER_PID],
                run.data.tags.get(TAG_OWNER_STARTED, ""),
            )
            is False
        ]

    def end_run(self, run_id: str, status: Status, error: str | None = None) -> None:
        if error:
            retry_locked(self.client.set_tag, run_id, TAG_ERROR, error[:_MAX_TAG])
        retry_locked(self.client.set_terminated, run_id, status)

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        batch = [Metric(key, float(value), now, step) for key, value in metrics.items()]
        retry_locked(self.client.log_batch, run_id, metrics=batch)

    @contextmanager
    def system_metrics(self, run_id: str, *, resume: bool) -> Iterator[None]:
        """CPU, memory, disk and network (GPU with nvidia-ml-py installed) as `system/*` metrics of the run."""
        monitor = SystemMetricsMonitor(run_id, resume_logging=resume, tracking_uri=self.uri)
        monitor.start()
        try:
            yield
        finally:
            monitor.finish()

    def log_job_result(self, run_id: str, result: RunResult, out_dir: Path, *, save_checkpoint: bool) -> None:
        """The final metrics and the artifacts of a finished job (its checkpoint only when asked)."""
        final = {FINAL_MEAN_RETURN: result.mean_return}
        if result.hns is not None:
            final[FINAL_HNS] = result.hns
        self.log_metrics(run_id, final, step=result.env_steps)
        _write_eval_returns(result.eval_returns, out_dir / EVAL_RETURNS_CSV)
        history = retry_locked(self.client.get_metric_history, run_id, EVAL_RETURN)
        _plot_learning_curve(history, result, out_dir / LEARNING_CURVE_PNG)
        names = [CONFIG, RESULT, EVAL_RETURNS_CSV, LEARNING_CURVE_PNG] + ([CHECKPOINT] if save_checkpoint else [])
        for name in names:
            retry_locked(self.client.log_artifact, run_id, str(out_dir / name))

    def log_scores(self, run_id: str, report: ScoreReport) -> None:
        """A parent run's aggregates over its finished children, and the whole report as JSON."""
        metrics = {FINAL_MEAN_RETURN: report.mean_return}
        for name, interval in report.aggregates.items():
            metrics |= {
                f"hns/{name}": interval.value,
                f"hns/{name}_ci_low": interval.ci_low,
                f"hns/{name}_ci_high": interval.ci_high,
            }
        self.log_metrics(run_id, metrics, step=0)
        retry_locked(self.client.log_dict, run_id, report.to_dict(), SCORES_JSON)


def _write_eval_returns(returns: list[float], path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["episode", "return"])
        writer.writerows(enumerate(returns))


def _plot_learning_curve(history: list[Metric], result: RunResult, path: Path) -> None:
    """Evaluation return against environment steps, and the final evaluation's mean."""
    latest = {m.step: m.value for m in sorted(history, key=lambda m: m.timestamp)}  # a resumed epoch logs twice
    steps = sorted(latest)
    figure = Figure(figsize=(6, 4))  # a bare Figure renders with Agg; no pyplot state, safe in any process
    ax = figure.subplots()
    ax.plot(steps, [latest[s] for s in steps], marker="o", label="evaluation during training")
    ax.scatter(
        [result.env_steps],
        [result.mean_return],
        color="black",
        zorder=3,
        label=f"final: {result.mean_return:.3g} over {len(result.eval_returns)} episodes",
    )
    for (label, value), style in zip(references(result.game).items(), ("--", ":", "-."), strict=False):
        ax.axhline(value, color="grey", linestyle=style, linewidth=1, label=f"{label} {value:,.3g}")
    ax.set(xlabel="environment steps", ylabel="mean return", title=f"{result.game}, seed {result.seed}")
    ax.grid(alpha=0.3)
    ax.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
