"""A variant's (or a study trial's) parent run: opened, then closed with the aggregates of its children."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ablate.config import Config
from ablate.runner.jobs import JobOutcome
from ablate.scoring import ScoreReport, score_runs
from ablate.tracking import TAG_DESCRIPTION, Kind, Status, Tracker, owner_tags, parent_tags


def open_parent(
    tracker: Tracker,
    variant: str,
    config: Config,
    games: Sequence[str],
    seeds: Sequence[int],
    budget: str,
    *,
    kind: Kind = "variant",
    name: str | None = None,
    extra_tags: Mapping[str, str] | None = None,
    resume: bool = False,
    description: str | None = None,
) -> str:
    """The parent run of one variant (or trial); with resume, the latest parent of the same command is reopened.

    `description` (the variant's) is the run's description in the MLflow UI; it is no part of what `resume` matches.
    """
    tags = {**parent_tags(kind, variant, list(games), list(seeds), budget, config.hash()), **(extra_tags or {})}
    run_id, _ = tracker.resume_or_start(name or f"{variant} ({budget})", tags, resume=resume, config=config)
    tracker.set_tags(run_id, owner_tags() | ({TAG_DESCRIPTION: description} if description else {}))
    return run_id


def close_parent(
    tracker: Tracker, parent_run_id: str, outcomes: Sequence[JobOutcome], *, jobs: int, reps: int = 50_000
) -> tuple[Status, ScoreReport | None]:
    """Log the aggregates of the finished children and end the parent: FINISHED only when all `jobs` finished."""
    scores: dict[str, list[float]] = {}
    for outcome in outcomes:
        if outcome.status == "FINISHED" and outcome.mean_return is not None:
            scores.setdefault(outcome.job.game, []).append(outcome.mean_return)
    report = score_runs(scores, reps=reps) if scores else None
    if report is not None:
        tracker.log_scores(parent_run_id, report)
    failed = [outcome.job.name for outcome in outcomes if outcome.status == "FAILED"]
    finished = sum(len(returns) for returns in scores.values())
    status: Status = "FAILED" if failed else "FINISHED" if finished == jobs else "KILLED"
    tracker.end_run(parent_run_id, status, f"failed jobs: {', '.join(failed)}" if failed else None)
    return status, report
