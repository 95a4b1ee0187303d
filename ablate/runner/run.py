"""`ablate run`: the parents opened, the jobs run, the parents closed; the summary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mlflow.entities import Run

from ablate.errors import DiskFull, is_disk_full
from ablate.locks import job_locks
from ablate.runner.dispatch import _Options, _run_here, _run_in_processes
from ablate.runner.jobs import JobOutcome
from ablate.runner.parents import close_parent, open_parent
from ablate.runner.plan import RunRequest, plan_run
from ablate.runner.progress import Progress, _estimated_epochs
from ablate.scoring import ScoreReport
from ablate.tracking import Status, Tracker


@dataclass
class VariantResult:
    variant: str
    parent_run_id: str
    status: Status
    report: ScoreReport | None  # None when no child finished
    outcomes: list[JobOutcome]


@dataclass
class RunSummary:
    experiment: str
    tracking_uri: str
    budget: str
    variants: list[VariantResult]
    interrupted: bool
    # RUNNING runs of the experiment whose owner died (kill -9, a lost machine) and that this invocation did
    # not continue: `--resume` of their command continues them.
    orphans: list[Run] = field(default_factory=list)
    disk_full: str | None = None  # why the jobs were stopped, when a write ran out of space

    @property
    def failed(self) -> list[JobOutcome]:
        return [outcome for v in self.variants for outcome in v.outcomes if outcome.status == "FAILED"]

    @property
    def exit_code(self) -> int:
        """0 only when every job finished; 130 after Ctrl-C, as a shell reports it."""
        if self.interrupted:
            return 130
        if self.disk_full:
            return 1
        return 0 if all(v.status == "FINISHED" for v in self.variants) else 1


def run_variants(request: RunRequest, on_progress: Callable[[Progress], None] | None = None) -> RunSummary:
    """`ablate run`: every (variant, game, seed) job trained and tracked; Ctrl-C stops the jobs, runs end KILLED."""
    plan = plan_run(request)
    tracker = Tracker.open(request.experiment, request.tracking_uri)
    orphans = tracker.orphaned_runs()
    # Every job is this invocation's for its whole life: a second invocation of any of them is refused up front.
    with job_locks(job.out_dir for p in plan.variants for job in p.jobs):
        parents = {
            p.variant: open_parent(
                tracker,
                p.variant,
                p.config,
                plan.games,
                plan.seeds,
                request.budget,
                resume=request.resume,
                description=p.description,
            )
            for p in plan.variants
        }
        work = [(parents[p.variant], job) for p in plan.variants for job in p.jobs]
        progress = Progress(
            len(work), sum(_estimated_epochs(job.config) for _, job in work), on_progress, parallel=request.jobs
        )
        options = _Options(request.resume, request.device, request.save_checkpoints)
        outcomes: list[JobOutcome] = []
        interrupted, disk_full = False, None
        try:
            if request.jobs == 1:
                _run_here(tracker, work, options, progress, outcomes)
            else:
                _run_in_processes(tracker, work, options, request.jobs, progress, outcomes)
        except KeyboardInterrupt:
            interrupted = True
        except DiskFull as err:
            disk_full = str(err)
        results = []
        for p in plan.variants:
            own = [outcome for outcome in outcomes if outcome.job.variant == p.variant]
            try:
                status, report = close_parent(tracker, parents[p.variant], own, jobs=len(p.jobs), reps=request.reps)
            except Exception as err:
                if disk_full is None or not is_disk_full(err):
                    raise
                status, report = "KILLED", None  # the store is on the full disk: the parent cannot be closed
            results.append(VariantResult(p.variant, parents[p.variant], status, report, own))
    adopted = set(parents.values()) | {outcome.run_id for outcome in outcomes}
    return RunSummary(
        request.experiment,
        tracker.uri,
        request.budget,
        results,
        interrupted,
        [run for run in orphans if run.info.run_id not in adopted],
        disk_full,
    )
