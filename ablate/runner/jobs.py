"""A job: one (variant, game, seed) to train, its directory, and its outcome."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ablate.config import Config
from ablate.tracking import Status, job_run_name, job_tags


@dataclass(frozen=True)
class Job:
    variant: str
    game: str
    seed: int
    budget: str
    config: Config
    out_dir: Path
    name_prefix: str = ""  # a study's name and "/": its trials' jobs are told from `ablate run`'s

    @property
    def name(self) -> str:
        return self.name_prefix + job_run_name(self.variant, self.game, self.seed)

    @property
    def tags(self) -> dict[str, str]:
        return job_tags(self.variant, self.game, self.seed, self.budget, self.config.hash())


def directory_name(experiment: str) -> str:
    """An experiment's folder under --out: `a/b`, `../x` or an absolute name must not lead outside it."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", experiment).strip(".")
    return name or "_"


def make_jobs(
    variant: str,
    config: Config,
    games: Sequence[str],
    seeds: Sequence[int],
    budget: str,
    root: Path,
    name_prefix: str = "",
) -> list[Job]:
    """One job per (game, seed); its directory is fixed by (variant, game, seed, config) so a resume finds it."""
    return [
        Job(variant, game, seed, budget, config, root / variant / game / f"seed{seed}-{config.hash()}", name_prefix)
        for game in games
        for seed in seeds
    ]


@dataclass
class JobOutcome:
    job: Job
    run_id: str
    status: Status
    mean_return: float | None = None
    error: str | None = None
    reused: bool = False  # finished in an earlier invocation, not trained again
    disk_full: bool = False  # stopped by a full disk (KILLED): the invocation stops every job


class JobStopped(Exception):
    """Raise from an `on_epoch` hook to stop a job early (e.g. a pruned trial); its run ends KILLED."""


@dataclass(frozen=True)
class _Ticket:
    """A job whose child run is open and ready to train."""

    job: Job
    run_id: str
    resume: bool

    @property
    def run_dir(self) -> Path:
        """Each run of a job has its own directory: a new run never deletes an earlier one's files."""
        return self.job.out_dir / self.run_id
