"""`ablate run`: train (variant, game, seed) jobs, tracked in MLflow, in up to K processes, resumable.

Flow: `plan_run` checks every input before anything is recorded; `run_variants` opens the store once, then one
parent run per variant, then runs the jobs (in this process when K = 1, else in K spawned processes), and closes
each parent with the aggregates of its finished children. A job's child run is created, or with resume found
again, just before the job starts. A study trial uses the same pieces: `open_parent`, `run_children`,
`close_parent`.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import pickle
import re
import shutil
import signal
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from mlflow.entities import Run

from ablate.config import Config, parse_set_options, resolve_config
from ablate.errors import DiskFull, UsageError, is_disk_full
from ablate.games import resolve_games
from ablate.jedi.trainer import EpochReport, resolve_device, total_epochs, train
from ablate.jedi.work import Work
from ablate.locks import job_locks, sqlite_path, trainer_lock, wait_for_trainer
from ablate.scoring import ScoreReport, score_runs
from ablate.stopping import child_stops_on_sigterm, stop_signals_deferred, stop_signals_ignored, terminate
from ablate.tracking import (
    TAG_DESCRIPTION,
    TAG_RUN_DIR,
    Kind,
    Status,
    Tracker,
    final_mean_return,
    job_run_name,
    job_tags,
    owner_tags,
    parent_tags,
)
from ablate.variants import get_variant, load_variants, resolve_variant

JOB_LOG = "job.log"  # a job process's stdout and stderr, beside its checkpoint
_FULL_BYTES = 2**20  # less free space than this on a path's device after a failed write: that disk filled up
_STOP_TIMEOUT_S = 60.0  # how long stopped jobs get to record KILLED before they are killed outright


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


# -- progress ------------------------------------------------------------------------------------------------------


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


# -- one job -------------------------------------------------------------------------------------------------------


def _open_job(tracker: Tracker, parent_run_id: str, job: Job, *, resume: bool) -> _Ticket | JobOutcome:
    """The job's child run: reused if it finished before, reopened if it was cut short, else a new one.

    The caller holds the job's lock; a trainer that outlived an earlier owner is let finish ending its run first.
    """
    wait_for_trainer(job.out_dir)
    runs = tracker.find_runs(job.tags, parent_run_id=parent_run_id) if resume else []
    finished = [run for run in runs if run.info.status == "FINISHED" and final_mean_return(run) is not None]
    if finished:
        return JobOutcome(job, finished[0].info.run_id, "FINISHED", final_mean_return(finished[0]), reused=True)
    if runs:
        tracker.reopen(runs[0])
        ticket = _Ticket(job, runs[0].info.run_id, resume=True)
    else:
        run_id = tracker.start_run(job.name, job.tags, config=job.config, parent_run_id=parent_run_id)
        ticket = _Ticket(job, run_id, resume=False)
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


# -- parents -------------------------------------------------------------------------------------------------------


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
    previous = tracker.find_runs(tags) if resume else []
    if previous:
        tracker.reopen(previous[0])
        run_id = previous[0].info.run_id
    else:
        run_id = tracker.start_run(name or f"{variant} ({budget})", tags, config=config)
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


# -- running jobs here, or in processes ---------------------------------------------------------------------------


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
                opened = _open_job(tracker, parent_run_id, job, resume=options.resume)
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
        opened = _open_job(tracker, parent_run_id, job, resume=options.resume)
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


# -- `ablate run` --------------------------------------------------------------------------------------------------


@dataclass
class RunRequest:
    """The options of `ablate run`, unvalidated."""

    variants: list[str]
    games: str
    seeds: int | None = None  # seeds 0..N-1 (default 1 seed); exclusive with seed_list
    seed_list: str | None = None  # "1,2,3"
    budget: str = "smoke"
    set_options: list[str] = field(default_factory=list)  # "key=value"
    jobs: int = 1
    device: str = "auto"
    experiment: str = "ablate"
    tracking_uri: str | None = None
    resume: bool = False
    save_checkpoints: bool = False
    variants_dir: Path | None = None
    out: Path = Path("runs")
    reps: int = 50_000  # bootstrap resamples for the parents' confidence intervals


@dataclass(frozen=True)
class VariantPlan:
    variant: str
    config: Config
    jobs: list[Job]
    description: str


@dataclass(frozen=True)
class RunPlan:
    games: list[str]
    seeds: list[int]
    variants: list[VariantPlan]


def parse_seeds(count: int | None, seed_list: str | None) -> list[int]:
    """`--seeds N` (seeds 0..N-1) or `--seed-list 1,2,3`; one seed, 0, when neither is given."""
    if count is not None and seed_list is not None:
        raise UsageError("give --seeds or --seed-list, not both")
    if seed_list is None:
        if count is not None and count < 1:
            raise UsageError(f"--seeds must be at least 1, got {count}")
        return list(range(count or 1))
    try:
        seeds = [int(item) for item in seed_list.split(",") if item.strip()]
    except ValueError:
        raise UsageError(f"--seed-list expects comma-separated integers such as 1,2,3, got '{seed_list}'") from None
    if not seeds or min(seeds) < 0:
        raise UsageError(f"--seed-list expects non-negative integers such as 1,2,3, got '{seed_list}'")
    return list(dict.fromkeys(seeds))


def plan_run(request: RunRequest) -> RunPlan:
    """Every job of the request, with every input checked: nothing is recorded before this passes."""
    if not request.variants:
        raise UsageError("name at least one variant; `ablate variants` lists them")
    if request.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {request.jobs}")
    if not request.experiment.strip():
        raise UsageError("--experiment must not be empty")
    registry = load_variants(request.variants_dir)
    games = resolve_games(request.games)
    seeds = parse_seeds(request.seeds, request.seed_list)
    resolve_device(request.device)
    overrides = parse_set_options(request.set_options)
    resolve_config(request.budget, overrides)  # a bad budget or --set is reported as such, not per variant
    if request.out.exists() and not request.out.is_dir():
        raise UsageError(f"--out {request.out} is a file; give a directory (default: runs)")
    root = request.out.resolve() / directory_name(request.experiment)
    plans = []
    for name in dict.fromkeys(request.variants):
        variant = get_variant(name, registry)  # an unknown name gets its suggestions before any combination is tried
        try:
            config = resolve_variant(name, registry, request.budget, overrides)
        except UsageError as err:
            raise UsageError(f"variant '{name}' with budget '{request.budget}' and --set: {err}") from None
        jobs = make_jobs(name, config, games, seeds, request.budget, root)
        plans.append(VariantPlan(name, config, jobs, variant.description))
    return RunPlan(games, seeds, plans)


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
