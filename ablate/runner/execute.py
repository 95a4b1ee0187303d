"""One job in this process: its child run opened (or found again), the training, the run ended; a full disk."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from ablate.errors import DiskFull, is_disk_full
from ablate.jedi.trainer import EpochReport, train
from ablate.jedi.work import Work
from ablate.locks import sqlite_path, trainer_lock, wait_for_trainer
from ablate.runner.jobs import Job, JobOutcome, JobStopped, _Ticket
from ablate.tracking import TAG_RUN_DIR, Tracker, final_mean_return, owner_tags

_FULL_BYTES = 2**20  # less free space than this on a path's device after a failed write: that disk filled up


def _open_job(tracker: Tracker, parent_run_id: str, job: Job, *, resume: bool) -> _Ticket | JobOutcome:
    """The job's child run: reused if it finished before, reopened if it was cut short, else a new one.

    The caller holds the job's lock; a trainer that outlived an earlier owner is let finish ending its run first.
    """
    wait_for_trainer(job.out_dir)
    runs = tracker.find_runs(job.tags, parent_run_id=parent_run_id) if resume else []
    finished = [run for run in runs if run.info.status == "FINISHED" and final_mean_return(run) is not None]
    if finished:
        return JobOutcome(job, finished[0].info.run_id, "FINISHED", final_mean_return(finished[0]), reused=True)
    run_id, reopened = tracker.resume_or_start(
        job.name, job.tags, resume=resume, config=job.config, parent_run_id=parent_run_id, found=runs
    )
    ticket = _Ticket(job, run_id, resume=reopened)
    tracker.set_tags(ticket.run_id, {TAG_RUN_DIR: str(ticket.run_dir), **owner_tags()})
    return ticket


def _execute(
    ticket: _Ticket,
    tracker: Tracker,
    *,
    device: str,
    save_checkpoints: bool,
    on_epoch: Callable[[EpochReport], None] | None = None,
    on_work: Callable[[Work], None] | None = None,
) -> JobOutcome:
    """Train the job into its open run and end the run FINISHED, or FAILED with the reason.

    KeyboardInterrupt and JobStopped end the run KILLED and propagate; the trainer's last checkpoint stays
    on disk, so a resume continues from it.
    """
    job, run_id = ticket.job, ticket.run_id

    def callback(report: EpochReport) -> None:
        tracker.log_metrics(run_id, report.metrics, step=report.env_steps)
        if on_epoch is not None:
            on_epoch(report)

    try:
        with trainer_lock(job.out_dir), tracker.system_metrics(run_id, resume=ticket.resume):
            result = train(
                job.config,
                job.game,
                job.seed,
                ticket.run_dir,
                device=device,
                resume=ticket.resume,
                callback=callback,
                progress=False,
                on_work=on_work,
            )
        tracker.log_job_result(run_id, result, ticket.run_dir, save_checkpoint=save_checkpoints)
    except (KeyboardInterrupt, JobStopped):
        tracker.end_run(run_id, "KILLED")
        raise
    except Exception as err:  # one job's failure is recorded; the other jobs go on
        # Not the job's failure: every other job would meet it too. torch.save says so only as a write at a
        # wrong position, so a device with no space left is read as the cause as well.
        if is_disk_full(err) or _free_bytes(ticket.run_dir) < _FULL_BYTES:
            raise _stopped_by_full_disk(tracker, ticket) from err
        error = f"{type(err).__name__}: {err}"
        tracker.end_run(run_id, "FAILED", error)
        return JobOutcome(job, run_id, "FAILED", error=error)
    tracker.end_run(run_id, "FINISHED")
    return JobOutcome(job, run_id, "FINISHED", result.mean_return)


def _stopped_by_full_disk(tracker: Tracker, ticket: _Ticket) -> DiskFull:
    """Remove what the cut write left, then end the run KILLED with the reason if the store can still take it."""
    candidates = [ticket.run_dir, sqlite_path(tracker.uri)]
    full = next((p for p in candidates if p is not None and _free_bytes(p) < _FULL_BYTES), ticket.run_dir)
    for cut in ticket.run_dir.glob("*.tmp"):
        cut.unlink(missing_ok=True)
    reason = f"no space left on the device of {full}; free space there and run the same command with --resume"
    with suppress(Exception):  # the store may be on the full disk too; the reason still reaches the user
        tracker.end_run(ticket.run_id, "KILLED", reason)
    return DiskFull(reason)


def _free_bytes(path: Path) -> int:
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
    return shutil.disk_usage(existing).free
