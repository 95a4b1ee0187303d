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
"""

from __future__ import annotations

import csv
import functools
import json
import logging
import os
import random
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.entities import Experiment, Metric, Param, Run
from mlflow.exceptions import MlflowException
from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT, MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NOTE

import ablate
from ablate.config import Config
from ablate.errors import UsageError
from ablate.games import references
from ablate.jedi.outputs import CHECKPOINT, CONFIG, RESULT, RunResult
from ablate.locks import owner, owner_alive, schema_lock, sqlite_path
from ablate.scoring import ScoreReport

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

# MLflow's INFO lines (schema creation, system-metrics start/stop per job) would drown the live progress view.
logging.getLogger("mlflow").setLevel(logging.WARNING)
# It logs every failed query with its traceback before raising it; `ablate` reports the error once, itself.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)

_MAX_TAG = 5000  # MLflow caps tag values; an error message is cut to fit
_RETRIES = 8
T = TypeVar("T")


def resolve_tracking_uri(uri: str | None = None) -> str:
    """`--tracking-uri`, else `MLFLOW_TRACKING_URI`, else `mlflow.db` in the working directory."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


_SERVER_SCHEMES = ("http", "https")
_DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
_REACH_TIMEOUT_S = 5.0


def check_tracking_uri(uri: str) -> None:
    """Refuse, in seconds and in one line, a store MLflow would retry for minutes or fail on with a traceback."""
    scheme = uri.partition("://")[0].split("+")[0] if "://" in uri else ""
    if scheme not in _SERVER_SCHEMES + _DATABASE_SCHEMES:
        raise UsageError(
            f"--tracking-uri '{uri}' is not a database or tracking-server URI; give e.g. "
            "sqlite:///mlflow.db, postgresql://user@host/db or http://host:5000"
        )
    if scheme in _SERVER_SCHEMES:
        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=_REACH_TIMEOUT_S):
                pass
        except urllib.error.HTTPError:
            pass  # it answers; a proxy in front of it may not know /health
        except (OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            raise UsageError(
                f"--tracking-uri {uri}: no tracking server answers there ({reason}); start one with "
                "`mlflow server` or check the address"
            ) from None
        return
    path = sqlite_path(uri)
    if scheme != "sqlite" or path is None:
        return
    if path.is_dir():
        raise UsageError(
            f"--tracking-uri {uri} names a directory; name a database file in it, e.g. sqlite:///{path / 'mlflow.db'}"
        )
    if path.exists():
        with open(path, "rb") as f:
            header = f.read(16)
        if header and header != b"SQLite format 3\0":
            raise UsageError(
                f"--tracking-uri {uri}: {path} is not an SQLite database; name a new file or an MLflow store"
            )
        writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    else:
        existing = next(p for p in (path.parent, *path.parents) if p.exists())
        writable = existing.is_dir() and os.access(existing, os.W_OK)
    if not writable:
        raise UsageError(
            f"--tracking-uri {uri}: {path} cannot be written here (read-only or no permission); "
            "name a writable location"
        )


def retry_locked(call: Callable[..., T], *args, **kwargs) -> T:
    """Call an MLflow function, retrying with exponential backoff while SQLite says "database is locked".

    SQLite admits one writer at a time; with several job processes a write can outlast the busy timeout.
    A locked write was rolled back, so repeating it is safe.
    """
    for attempt in range(_RETRIES - 1):
        try:
            return call(*args, **kwargs)
        except Exception as err:
            if "database is locked" not in str(err):
                raise
        time.sleep(0.1 * 2**attempt * random.uniform(0.5, 1.5))  # jitter keeps writers from colliding again
    return call(*args, **kwargs)  # the last attempt's error, if any, is the caller's


@functools.cache
def git_commit() -> str | None:
    """The commit of the checkout `ablate` runs from, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(ablate.__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


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
