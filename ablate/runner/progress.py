"""Progress: what a live view shows of the jobs, and their ETA."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ablate.config import Config
from ablate.jedi.trainer import EpochReport, total_epochs
from ablate.jedi.work import Work
from ablate.runner.jobs import Job, JobOutcome


@dataclass
class JobProgress:
    """One running job's line in the live view."""

    name: str
    device: str
    total_epochs: int  # an estimate until the trainer knows it (after the first collection)
    epoch: int = 0
    env_steps: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    resumed_from: int = 0  # the epoch a resumed job continued from, else 0
    fraction: float = 0.0  # of the job's work (jedi/work.py), weighed by cost
    eta_s: float | None = None
    spent_s: float = 0.0


@dataclass
class Progress:
    """What a live view shows; the runner updates it and calls `listener` after every change."""

    total_jobs: int
    epochs_total: int  # over the jobs still to train, so the ETA reflects this invocation's work
    listener: Callable[[Progress], None] | None = None
    ended_jobs: int = 0
    failed_jobs: int = 0
    running: dict[str, JobProgress] = field(default_factory=dict)
    stopping: bool = False
    parallel: int = 1  # jobs trained at once
    _ended_epochs: int = field(default=0, init=False, repr=False)
    _job_seconds: list[float] = field(default_factory=list, init=False, repr=False)  # of the jobs that trained

    @property
    def epochs_done(self) -> int:
        return self._ended_epochs + sum(job.epoch for job in self.running.values())

    def start(self, job: Job, device: str) -> None:
        self.running[job.name] = JobProgress(job.name, device, _estimated_epochs(job.config))
        self._notify()

    def epoch(self, job: Job, report: EpochReport) -> None:
        line = self.running.get(job.name)
        if line is None:
            return
        if report.total_epochs:
            self.epochs_total += report.total_epochs - line.total_epochs
            line.total_epochs = report.total_epochs
        line.epoch, line.env_steps, line.metrics = report.epoch, report.env_steps, report.metrics
        line.resumed_from = report.resumed_from
        self._notify()

    def work(self, job: Job, fraction: float, eta_s: float | None, spent_s: float) -> None:
        line = self.running.get(job.name)
        if line is None:
            return
        line.fraction, line.eta_s, line.spent_s = fraction, eta_s, spent_s
        self._notify()

    @property
    def fraction(self) -> float:
        """The share of this invocation's work done: ended jobs whole, running ones by their own fraction."""
        return (self.ended_jobs + sum(line.fraction for line in self.running.values())) / max(1, self.total_jobs)

    def eta_s(self) -> float | None:
        """Seconds left: the running jobs' own ETAs, and the pending ones at what a job has taken, shared out
        over the jobs that run at once. None until every running job has an ETA."""
        if any(line.eta_s is None for line in self.running.values()) or not (self.running or self._job_seconds):
            return None
        lengths = self._job_seconds + [line.spent_s + (line.eta_s or 0.0) for line in self.running.values()]
        pending = self.total_jobs - self.ended_jobs - len(self.running)
        left = sum(line.eta_s or 0.0 for line in self.running.values()) + pending * sum(lengths) / len(lengths)
        return left / max(1, min(self.parallel, pending + len(self.running)))

    def end(self, outcome: JobOutcome) -> None:
        line = self.running.pop(outcome.job.name, None)
        if line is not None and line.spent_s and outcome.status == "FINISHED":
            self._job_seconds.append(line.spent_s)
        if line is None:  # reused: it never started
            line = JobProgress(outcome.job.name, "", _estimated_epochs(outcome.job.config))
        # Epochs that will not be trained (a reused, failed or stopped job) leave the total: the ETA stays true.
        self.epochs_total -= line.total_epochs - line.epoch
        self._ended_epochs += line.epoch
        self.ended_jobs += 1
        self.failed_jobs += outcome.status == "FAILED"
        self._notify()

    def _notify(self) -> None:
        if self.listener is not None:
            self.listener(self)


def _work_summary(work: Work) -> tuple[float, float | None, float]:
    """What a live view needs of a job's work: fraction done, seconds left, seconds spent (small to send)."""
    return work.fraction(), work.eta_s(), sum(work.seconds.values())


def _estimated_epochs(config: Config) -> int:
    return total_epochs(config, config.training.initial_steps_min)
