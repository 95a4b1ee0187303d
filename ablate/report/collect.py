"""Read what a report summarises from the MLflow store into plain data; it reads, it never writes.

An entry is one column of the comparison: a variant's job runs at one budget and config (`ablate run`'s parent
runs of that variant, however many invocations made them), or one study trial's. Each (game, seed) an entry asked
for, or ran, is one job, in the state the report counts it in.
"""

from __future__ import annotations

import shlex
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from ablate.errors import UsageError, did_you_mean
from ablate.locks import owner_alive, sqlite_path
from ablate.studies import EXPERIMENT as STUDY_EXPERIMENT
from ablate.studies import TAG_OVERRIDE, TAG_STATE, TAG_STUDY, TAG_TRIAL
from ablate.tracking import (
    EVAL_RETURN,
    TAG_BUDGET,
    TAG_CONFIG_HASH,
    TAG_GAME,
    TAG_GAMES,
    TAG_KIND,
    TAG_OWNER_HOST,
    TAG_OWNER_PID,
    TAG_OWNER_STARTED,
    TAG_RUN_DIR,
    TAG_SEED,
    TAG_SEEDS,
    TAG_VARIANT,
    check_tracking_uri,
    final_mean_return,
    resolve_tracking_uri,
    retry_locked,
)

State = Literal["finished", "running", "failed", "missing"]
STATES: tuple[State, ...] = ("finished", "running", "failed", "missing")
_PAGE = 1000  # runs per search request; a store may hold many more


@dataclass(frozen=True)
class Job:
    """One (game, seed) of an entry: the best of its runs (finished, else running, else failed), or none."""

    game: str
    seed: int
    state: State  # missing: never started, stopped (KILLED), or left RUNNING by an owner that is gone
    final_return: float | None = None
    run_id: str | None = None
    curve: tuple[tuple[int, float], ...] = ()  # (environment steps, eval/return) of a finished run
    command: str | None = None  # what completes it when it is not finished; None where no command does


@dataclass
class Entry:
    """One column of the comparison."""

    key: str  # what --baseline names: the variant, or the trial's number
    label: str  # the variant, or the trial with its swept values
    budget: str
    jobs: dict[tuple[str, int], Job]

    def returns(self, game: str) -> list[float]:
        """The final returns of the finished seeds of `game`, by seed."""
        return [
            job.final_return
            for (g, _), job in sorted(self.jobs.items())
            if g == game and job.final_return is not None and job.state == "finished"
        ]

    def finished_games(self) -> list[str]:
        return list(dict.fromkeys(job.game for job in self.jobs.values() if job.state == "finished"))


@dataclass
class Collection:
    """Everything a report is computed from."""

    subject: str  # "experiment 'ablate'" or "study 'latent-dim'"
    tracking_uri: str
    experiment_id: str
    budget: str
    entries: list[Entry]
    notes: list[str]  # what was left out while reading, and why


def open_store(experiment: str, uri: str | None) -> tuple[MlflowClient, str, str]:
    """A client on an existing store and the id of an existing experiment; opening never creates either."""
    uri = resolve_tracking_uri(uri)
    check_tracking_uri(uri)
    path = sqlite_path(uri)
    if path is not None and not path.exists():
        raise UsageError(f"no MLflow store at {path}; `ablate run` creates it, or give --tracking-uri")
    client = MlflowClient(uri)
    try:
        found = client.get_experiment_by_name(experiment)
        names = [e.name for e in retry_locked(client.search_experiments)]
    except MlflowException as err:
        raise UsageError(f"cannot read tracking store '{uri}': {str(err).splitlines()[0]}") from None
    if found is None or found.lifecycle_stage == "deleted":
        raise UsageError(f"no experiment '{experiment}' in {uri}{_suggest(experiment, names)}")
    return client, uri, found.experiment_id


def _suggest(name: str, names: Sequence[str]) -> str:
    hint = did_you_mean(name, names)
    return f"{hint}; it has: {', '.join(sorted(names))}" if names else hint


def search(client: MlflowClient, experiment_id: str, query: str) -> list[Run]:
    """Every run matching `query`, newest first, page after page."""
    runs: list[Run] = []
    token = None
    while True:
        page = retry_locked(
            client.search_runs,
            [experiment_id],
            query,
            max_results=_PAGE,
            order_by=["attributes.start_time DESC"],
            page_token=token,
        )
        runs += page
        token = page.token
        if not token:
            return runs


def _state(run: Run) -> State:
    status = run.info.status
    if status == "FINISHED" and final_mean_return(run) is not None:
        return "finished"
    if status == "FAILED":
        return "failed"
    if status == "RUNNING":
        tags = run.data.tags
        alive = (
            owner_alive(tags.get(TAG_OWNER_HOST, ""), tags[TAG_OWNER_PID], tags.get(TAG_OWNER_STARTED, ""))
            if TAG_OWNER_PID in tags
            else None
        )
        return "missing" if alive is False else "running"  # None: another host's, taken as alive
    return "missing"


def _curve(client: MlflowClient, run_id: str) -> tuple[tuple[int, float], ...]:
    history = retry_locked(client.get_metric_history, run_id, EVAL_RETURN)
    latest = {m.step: m.value for m in sorted(history, key=lambda m: m.timestamp)}  # a resumed epoch logs twice
    return tuple(sorted(latest.items()))


def asked_jobs(parent: Run) -> list[tuple[str, int]]:
    """The (game, seed) jobs a parent run was started for (its `ablate.games` and `ablate.seeds` tags)."""
    tags = parent.data.tags
    games = [g for g in tags.get(TAG_GAMES, "").split(",") if g]
    seeds = [int(s) for s in tags.get(TAG_SEEDS, "").split(",") if s]
    return [(game, seed) for game in games for seed in seeds]


def _entry(
    client: MlflowClient,
    key: str,
    label: str,
    budget: str,
    parents: Sequence[Run],
    children: dict[str, list[Run]],
    command: Callable[[Run], str | None],
    games: set[str] | None,
) -> Entry:
    """An entry from its parent runs (newest first) and their job runs: per (game, seed), the best run."""
    asked: dict[tuple[str, int], Run] = {}
    for parent in parents:
        for job in asked_jobs(parent):
            asked.setdefault(job, parent)  # the newest parent that asked for a job completes it
    runs: dict[tuple[str, int], list[Run]] = defaultdict(list)
    for parent in parents:
        for child in children.get(parent.info.run_id, []):
            job = (child.data.tags.get(TAG_GAME, ""), int(child.data.tags.get(TAG_SEED, "0")))
            runs[job].append(child)
            asked.setdefault(job, parent)
    jobs = {}
    for job, parent in asked.items():
        if games is not None and job[0] not in games:
            continue
        ranked = sorted(runs.get(job, []), key=lambda run: (STATES.index(_state(run)), -run.info.start_time))
        best = ranked[0] if ranked else None
        state = _state(best) if best is not None else "missing"
        if state == "finished":
            assert best is not None
            jobs[job] = Job(*job, state, final_mean_return(best), best.info.run_id, _curve(client, best.info.run_id))
        else:
            jobs[job] = Job(*job, state, None, best.info.run_id if best else None, command=command(parent))
    return Entry(key, label, budget, dict(sorted(jobs.items())))


def _children(client: MlflowClient, experiment_id: str) -> dict[str, list[Run]]:
    """Every job run of the experiment, by parent run id, newest first."""
    children: dict[str, list[Run]] = defaultdict(list)
    for run in search(client, experiment_id, f"tags.`{TAG_KIND}` = 'job'"):
        children[run.data.tags.get(MLFLOW_PARENT_RUN_ID, "")].append(run)
    return children


def _out_option(parent: Run, children: dict[str, list[Run]]) -> list[str]:
    """`--out DIR` when the parent's jobs keep their checkpoints elsewhere than ./runs, so a resume finds them."""
    for child in children.get(parent.info.run_id, []):
        if TAG_RUN_DIR in child.data.tags:
            # OUT/EXPERIMENT/VARIANT/GAME/seedS-HASH/RUN_ID (runner.make_jobs and _Ticket.run_dir)
            out = Path(child.data.tags[TAG_RUN_DIR]).parents[4]
            return [] if out == Path("runs").resolve() else ["--out", str(out)]
    return []


def _values(swept: dict[str, str]) -> str:
    """`num_steps=5, lr=0.001`: each key by its last part where that names it alone among the swept keys."""
    short = {key: key.rsplit(".", 1)[-1] for key in swept}
    unique = {key: name if list(short.values()).count(name) == 1 else key for key, name in short.items()}
    return ", ".join(f"{unique[key]}={value}" for key, value in sorted(swept.items()))


def _quoted(words: Iterable[str]) -> str:
    return " ".join(shlex.quote(word) for word in words)


def collect_variants(
    experiment: str,
    uri: str | None,
    variants: Sequence[str],
    budget: str | None,
    games: set[str] | None,
) -> Collection:
    """`ablate run`'s runs in `experiment`: one entry per variant (every variant when none is named) at one
    budget, the config of its newest parent run. UsageError when a variant, the experiment or the store is unknown."""
    client, uri, experiment_id = open_store(experiment, uri)
    parents: dict[str, list[Run]] = defaultdict(list)
    for run in search(client, experiment_id, f"tags.`{TAG_KIND}` = 'variant'"):
        parents[run.data.tags.get(TAG_VARIANT, "")].append(run)
    if not parents:
        raise UsageError(f"experiment '{experiment}' in {uri} has no runs of `ablate run`; run some first")
    names = list(dict.fromkeys(variants)) or sorted(parents)
    for name in names:
        if name not in parents:
            raise UsageError(
                f"experiment '{experiment}' has no runs of variant '{name}'{_suggest(name, list(parents))}"
            )
    budgets = sorted({p.data.tags.get(TAG_BUDGET, "") for name in names for p in parents[name]})
    if budget is None:
        if len(budgets) > 1:
            raise UsageError(
                f"the runs of {', '.join(names)} in experiment '{experiment}' are of budgets {', '.join(budgets)}; "
                "choose one with --budget"
            )
        budget = budgets[0]
    if not variants:  # every variant: those run at the budget
        names = [name for name in names if any(p.data.tags.get(TAG_BUDGET) == budget for p in parents[name])]
        if not names:
            raise UsageError(
                f"experiment '{experiment}' has no runs of budget '{budget}'; it has: {', '.join(budgets)}"
            )
    children = _children(client, experiment_id)
    entries, notes = [], []
    for name in names:
        at_budget = [p for p in parents[name] if p.data.tags.get(TAG_BUDGET) == budget]
        if not at_budget:
            raise UsageError(f"variant '{name}' has no runs of budget '{budget}' in experiment '{experiment}'")
        config = at_budget[0].data.tags.get(TAG_CONFIG_HASH)
        same = [p for p in at_budget if p.data.tags.get(TAG_CONFIG_HASH) == config]
        if len(same) < len(at_budget):
            # Another config under the same name (--set, or defaults changed since): not the same experiment.
            others = sorted({p.data.tags.get(TAG_CONFIG_HASH, "?") for p in at_budget} - {config})
            notes.append(
                f"{name}: {len(at_budget) - len(same)} older parent run(s) of another config "
                f"({', '.join(others)}) left out; the report uses the newest one's config ({config})"
            )

        def command(parent: Run, name: str = name) -> str:
            tags = parent.data.tags
            words = ["ablate", "run", name, "--games", tags.get(TAG_GAMES, ""), "--seed-list", tags.get(TAG_SEEDS, "")]
            words += ["--budget", budget, "--experiment", experiment]
            words += ["--tracking-uri", uri] if uri != resolve_tracking_uri() else []
            return _quoted(words + _out_option(parent, children) + ["--resume"])

        entries.append(_entry(client, name, name, budget, same, children, command, games))
    return Collection(f"experiment '{experiment}'", uri, experiment_id, budget, entries, notes)


def collect_trials(study: str, uri: str | None, games: set[str] | None) -> Collection:
    """The trials of a study (parent runs `ablate.kind=trial` in the studies' experiment), one entry each, by trial
    number, labelled with its swept values. UsageError when the study has no trial in the store."""
    experiment = STUDY_EXPERIMENT
    client, uri, experiment_id = open_store(experiment, uri)
    trials = search(client, experiment_id, f"tags.`{TAG_KIND}` = 'trial'")
    studies = sorted({run.data.tags.get(TAG_STUDY, "") for run in trials})
    mine = [run for run in trials if run.data.tags.get(TAG_STUDY) == study]
    if not mine:
        raise UsageError(
            f"no trials of study '{study}' in experiment '{experiment}' of {uri}{_suggest(study, studies)}"
        )
    mine.sort(key=lambda run: int(run.data.tags.get(TAG_TRIAL, "0")))
    children = _children(client, experiment_id)
    words = ["ablate", "study", "run", study] + (["--tracking-uri", uri] if uri != resolve_tracking_uri() else [])

    def command(trial: Run) -> str | None:
        if trial.info.status == "FAILED" or trial.data.tags.get(TAG_STATE) == "PRUNED":
            return None  # the study does not run it again
        tags = trial.data.tags  # the study's options as the trial ran them: a worker with others is refused
        return _quoted(words + ["--budget", tags.get(TAG_BUDGET, ""), "--games", tags.get(TAG_GAMES, "")])

    entries = []
    for trial in mine:
        tags = trial.data.tags
        number = tags.get(TAG_TRIAL, "?")
        swept = {key.removeprefix(TAG_OVERRIDE): value for key, value in tags.items() if key.startswith(TAG_OVERRIDE)}
        label = f"trial{number} ({_values(swept)})" if swept else f"trial{number}"
        entries.append(_entry(client, number, label, tags.get(TAG_BUDGET, ""), [trial], children, command, games))
    budget = mine[-1].data.tags.get(TAG_BUDGET, "")
    return Collection(f"study '{study}'", uri, experiment_id, budget, entries, [])
