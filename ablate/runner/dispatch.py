"""Running jobs: one after another in this process, or in up to K spawned processes spread over the devices."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from ablate.config import resolve_config
from ablate.errors import DiskFull
from ablate.jedi.device import resolve_device
from ablate.jedi.trainer import EpochReport
from ablate.jedi.work import Work
from ablate.locks import job_locks
from ablate.runner import execute
from ablate.runner.execute import _execute
from ablate.runner.jobs import Job, JobOutcome, JobStopped, _Ticket, make_jobs
from ablate.runner.progress import Progress, _estimated_epochs, _work_summary
from ablate.stopping import child_stops_on_sigterm, stop_signals_deferred, stop_signals_ignored, terminate
from ablate.tracking import Status, Tracker

JOB_LOG = "job.log"  # a job process's stdout and stderr, beside its checkpoint
_STOP_TIMEOUT_S = 60.0  # how long stopped jobs get to record KILLED before they are killed outright


@dataclass(frozen=True)
class _Options:
    resume: bool
    device: str
    save_checkpoints: bool


def _run_here(
    tracker: Tracker,
    work: Sequence[tuple[str, Job]],
    options: _Options,
    progress: Progress,
    outcomes: list[JobOutcome],
    on_epoch: Callable[[Job, EpochReport], None] | None = None,
) -> None:
    """Run (parent run id, job) pairs one after another in this process; `outcomes` grows as jobs end."""
    for parent_run_id, job in work:
        opened: _Ticket | JobOutcome | None = None
        try:
            with stop_signals_deferred():  # a signal while the run is opened would leave it RUNNING
                opened = execute._open_job(tracker, parent_run_id, job, resume=options.resume)
        except KeyboardInterrupt:
            if isinstance(opened, _Ticket):
                tracker.end_run(opened.run_id, "KILLED")
            raise
        if isinstance(opened, _Ticket):
            progress.start(job, str(resolve_device(options.device)))

            def hook(report: EpochReport, job: Job = job) -> None:
                progress.epoch(job, report)
                if on_epoch is not None:
                    on_epoch(job, report)

            def report_work(done: Work, job: Job = job) -> None:
                progress.work(job, *_work_summary(done))

            opened = _execute(
                opened,
                tracker,
                device=options.device,
                save_checkpoints=options.save_checkpoints,
                on_epoch=hook,
                on_work=report_work,
            )
        outcomes.append(opened)
        progress.end(opened)


def run_children(
    tracker: Tracker,
    parent_run_id: str,
    *,
    variant: str,
    overrides: Mapping[str, Any],
    games: Sequence[str],
    seeds: Sequence[int],
    budget: str,
    out_root: Path,
    resume: bool = False,
    device: str = "auto",
    save_checkpoints: bool = False,
    on_epoch: Callable[[Job, EpochReport], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    name_prefix: str = "",
) -> dict[tuple[str, int], JobOutcome]:
    """Train the (game, seed) children of one parent run, one after another in this process (a study trial).

    `overrides` are dotted config keys on top of `budget` (the variant's, then the sampled ones); jobs keep
    their files under `out_root`. `on_epoch` sees every epoch report; raising JobStopped from it ends that
    child KILLED and propagates, as does KeyboardInterrupt. Returns the outcome per (game, seed).
    """
    jobs = make_jobs(variant, resolve_config(budget, overrides), games, seeds, budget, out_root, name_prefix)
    outcomes: list[JobOutcome] = []
    progress = Progress(len(jobs), sum(_estimated_epochs(job.config) for job in jobs), on_progress)
    with job_locks(job.out_dir for job in jobs):
        _run_here(
            tracker,
            [(parent_run_id, job) for job in jobs],
            _Options(resume, device, save_checkpoints),
            progress,
            outcomes,
            on_epoch,
        )
    return {(outcome.job.game, outcome.job.seed): outcome for outcome in outcomes}


@dataclass
class _Worker:
    ticket: _Ticket
    process: multiprocessing.process.BaseProcess
    device: str
    # The job's own pipe: one queue shared by all jobs would deadlock the others when one is killed while
    # holding the queue's write lock. None once the pipe has closed or broken.
    reports: multiprocessing.connection.Connection | None


def _job_process(
    ticket: _Ticket,
    tracker: Tracker,
    device: str,
    save_checkpoints: bool,
    threads: int,
    reports: multiprocessing.connection.Connection,
) -> None:
    """A job's process: sends each epoch and its outcome over `reports`; its own output goes to its log file."""
    child_stops_on_sigterm()
    ticket.run_dir.mkdir(parents=True, exist_ok=True)
    with open(ticket.run_dir / JOB_LOG, "a") as log:  # library chatter would tear the parent's live view
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(threads)  # K jobs share the cores instead of oversubscribing them

    def send(kind: str, payload: object) -> None:
        try:
            reports.send((kind, payload))
        except OSError:  # the parent is gone: stop as it would have stopped us
            raise JobStopped from None

    try:
        outcome = _execute(
            ticket,
            tracker,
            device=device,
            save_checkpoints=save_checkpoints,
            on_epoch=partial(send, "epoch"),
            on_work=lambda work: send("work", _work_summary(work)),
        )
    except (KeyboardInterrupt, JobStopped):
        outcome = JobOutcome(ticket.job, ticket.run_id, "KILLED")
    except DiskFull as err:
        outcome = JobOutcome(ticket.job, ticket.run_id, "KILLED", error=str(err), disk_full=True)
    with suppress(OSError):  # a dead parent's pipe: the run is ended already, there is nobody to tell
        reports.send(("done", outcome))


def _exit_reason(exitcode: int | None, log: Path) -> str:
    """Why a job process ended without reporting: its exit code, or the signal that killed it, and its log."""
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (the kernel's out-of-memory killer sends it, as does kill -9)" if name == "SIGKILL" else ""
        return f"job process killed by {name}{hint}; see {log}"
    return f"job process exited with code {exitcode}; see {log}"


def device_pool(device: str) -> list[str]:
    """Devices the jobs are spread over, as they will be used (`auto` resolved): every GPU when CUDA (or auto)
    is asked for and there are several."""
    if device in ("auto", "cuda") and torch.cuda.device_count() > 1:
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return [str(resolve_device(device))]


def _run_in_processes(
    tracker: Tracker,
    work: Sequence[tuple[str, Job]],
    options: _Options,
    jobs: int,
    progress: Progress,
    outcomes: list[JobOutcome],
) -> None:
    """Run (parent run id, job) pairs in up to `jobs` spawned processes; on Ctrl-C stop them and re-raise."""
    context = multiprocessing.get_context("spawn")  # fork would copy this process's threads, CUDA and DB handles
    devices = device_pool(options.device)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    pending = deque(work)
    running: dict[str, _Worker] = {}

    def handle(timeout: float) -> None:
        """Wait up to `timeout` for a report or a process exit, then take every report that has arrived."""
        if not running:
            return
        pipes = [worker.reports for worker in running.values() if worker.reports is not None]
        multiprocessing.connection.wait(pipes + [worker.process.sentinel for worker in running.values()], timeout)
        for name, worker in list(running.items()):
            for kind, payload in _received(worker):
                if kind == "epoch":
                    progress.epoch(worker.ticket.job, payload)
                elif kind == "work":
                    progress.work(worker.ticket.job, *payload)
                else:
                    finish(running.pop(name), payload)

    def finish(worker: _Worker, outcome: JobOutcome) -> None:
        worker.process.join()
        if worker.reports is not None:
            worker.reports.close()
        outcomes.append(outcome)
        progress.end(outcome)
        if outcome.disk_full:
            raise DiskFull(outcome.error)

    def reap(status: Status) -> None:
        """End the runs of processes that died without reporting (killed, crashed)."""
        for name, worker in list(running.items()):
            if worker.process.is_alive():
                continue
            handle(timeout=0)  # its report may still be in its pipe
            if name in running:
                error = _exit_reason(worker.process.exitcode, worker.ticket.run_dir / JOB_LOG)
                tracker.end_run(worker.ticket.run_id, status, error if status == "FAILED" else None)
                finish(running.pop(name), JobOutcome(worker.ticket.job, worker.ticket.run_id, status, error=error))

    def launch(parent_run_id: str, job: Job) -> None:
        opened = execute._open_job(tracker, parent_run_id, job, resume=options.resume)
        if isinstance(opened, JobOutcome):
            outcomes.append(opened)
            progress.end(opened)
            return
        device = min(devices, key=lambda d: sum(w.device == d for w in running.values()))
        reports, job_end = context.Pipe(duplex=False)
        process = context.Process(
            target=_job_process,
            name=job.name,
            args=(opened, tracker, device, options.save_checkpoints, threads, job_end),
        )
        with stop_signals_ignored():  # the job inherits them ignored: Ctrl-C reaches only this process
            process.start()
        job_end.close()  # the job holds the only writing end, so its exit closes the pipe
        running[job.name] = _Worker(opened, process, device, reports)
        progress.start(job, device)

    try:
        while pending or running:
            while pending and len(running) < jobs:
                with stop_signals_deferred():
                    launch(*pending.popleft())
            handle(timeout=1.0)
            reap("FAILED")
    except (KeyboardInterrupt, DiskFull):
        progress.stopping = True
        with stop_signals_ignored():  # stopping must finish, or runs would stay RUNNING
            deadline = time.monotonic() + _STOP_TIMEOUT_S
            while running and time.monotonic() < deadline:
                terminate([worker.process for worker in running.values()])
                handle(timeout=0.5)
                reap("KILLED")
            for worker in running.values():
                worker.process.kill()
                worker.process.join()
            reap("KILLED")
        raise


def _received(worker: _Worker) -> list[tuple[str, Any]]:
    """The reports waiting in a job's pipe; a closed or torn pipe (the job died mid-send) is dropped."""
    messages = []
    try:
        while worker.reports is not None and worker.reports.poll():
            messages.append(worker.reports.recv())
    except (EOFError, OSError, pickle.UnpicklingError):
        if worker.reports is not None:
            worker.reports.close()
        worker.reports = None
    return messages
