"""Workers: each starts trials until the study has none left to start; here, or in spawned processes."""

from __future__ import annotations

import hashlib
import multiprocessing
import multiprocessing.connection
import os
import socket
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import optuna
import torch
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from ablate.runner import device_pool
from ablate.stopping import child_stops_on_sigterm, stop_signals_ignored, terminate
from ablate.studies.definition import StudyDefinition, _make_pruner, _make_sampler
from ablate.studies.heartbeats import MAX_RETRIES
from ablate.studies.names import ATTR_RUN_ID
from ablate.studies.storage import open_storage
from ablate.studies.trial import TrialFailed, _counted, _end_runs, _Objective, _point
from ablate.tracking import Tracker, retry_locked

STOP_TIMEOUT_S = 60.0  # how long stopped workers get to record their trials before they are killed


def _has_work(study: optuna.Study, definition: StudyDefinition) -> bool:
    """Whether a worker should start another trial: a queued retry, or room under n_trials (and on the grid)."""
    optuna.storages.fail_stale_trials(study)
    trials = _counted(study.get_trials(deepcopy=False))
    if any(t.state == TrialState.WAITING for t in trials):
        return True
    if len(trials) >= definition.n_trials:
        return False
    taken = {_point(t.params) for t in trials}
    return not definition.exhaustive or any(_point(p) not in taken for p in definition.points())


@dataclass(frozen=True)
class _WorkerSetup:
    """Plain data, so a spawned worker process receives it and opens its own storage and MLflow client."""

    definition: StudyDefinition
    storage: str
    tracker: Tracker
    device: str
    out_root: Path
    index: int = 0
    threads: int = 0  # torch threads of a worker process; 0 keeps torch's choice


def _worker_seed(definition: StudyDefinition, index: int) -> int:
    """Grid workers share the study's seed (one order of points for all); others each get a seed of their own, from
    the study's seed, the host and the worker's index, so parallel workers don't propose the same values."""
    if definition.sampler == "grid":
        return definition.sampler_seed
    text = f"{definition.sampler_seed}/{socket.gethostname()}/{index}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def _on_stale(
    tracker: Tracker, retry: RetryHeartbeatStaleTrialCallback, study: optuna.Study, trial: FrozenTrial
) -> None:
    """A trial whose worker died: its MLflow runs end FAILED, and the trial is queued to continue them."""
    run_id = trial.user_attrs.get(ATTR_RUN_ID)
    if run_id:
        _end_runs(tracker, run_id, "FAILED", TrialState.FAIL, "its worker stopped sending heartbeats")
    retry(study, trial)


def _work(setup: _WorkerSetup) -> None:
    """One worker: start trials until the study has none left to start."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # outcomes are on the trials; the log would only repeat them
    d = setup.definition
    retry = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES, inherit_intermediate_values=True)
    storage = open_storage(setup.storage, on_stale=partial(_on_stale, setup.tracker, retry))
    study = optuna.load_study(
        study_name=d.name,
        storage=storage,
        sampler=_make_sampler(d, _worker_seed(d, setup.index)),
        pruner=_make_pruner(d),
    )
    objective = _Objective(d, setup.tracker, setup.device, setup.out_root, retry)
    while retry_locked(_has_work, study, d):
        retry_locked(study.optimize, objective, n_trials=1, catch=(TrialFailed,))


def _worker_process(setup: _WorkerSetup) -> None:
    """A spawned worker: stopped by SIGTERM as by Ctrl-C; its output goes to its log file, not the live view."""
    child_stops_on_sigterm()
    setup.out_root.mkdir(parents=True, exist_ok=True)
    with open(setup.out_root / f"worker{setup.index}.log", "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    if setup.threads and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(setup.threads)  # workers share the cores instead of oversubscribing them
    with suppress(KeyboardInterrupt):  # stopped: its trial ended KILLED and was queued again
        _work(setup)


def _run_workers(setup: _WorkerSetup, workers: int) -> int:
    """Run the workers, here when there is one, else in spawned processes; returns how many crashed."""
    if workers == 1:
        _work(setup)
        return 0
    context = multiprocessing.get_context("spawn")  # fork would copy this process's threads and DB connections
    devices = device_pool(setup.device)
    threads = max(1, (os.cpu_count() or 1) // workers)
    processes = [
        context.Process(
            target=_worker_process,
            name=f"{setup.definition.name}-worker{i}",
            args=(replace(setup, index=i, device=devices[i % len(devices)], threads=threads),),
        )
        for i in range(workers)
    ]
    with stop_signals_ignored():  # Ctrl-C reaches only this process, which then stops each worker once
        for process in processes:
            process.start()
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        with stop_signals_ignored():  # stopping must finish, or runs would stay RUNNING
            _stop(processes)
        raise
    return sum(process.exitcode != 0 for process in processes)


def _stop(processes: Sequence[multiprocessing.process.BaseProcess]) -> None:
    """SIGTERM each worker, which ends its trial's runs KILLED and queues the trial; kill the ones that hang."""
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while any(process.is_alive() for process in processes) and time.monotonic() < deadline:
        terminate(processes)
        multiprocessing.connection.wait([process.sentinel for process in processes], timeout=0.5)
    for process in processes:
        if process.is_alive():  # its trial is failed and retried once its heartbeat is stale
            process.kill()
        process.join()
