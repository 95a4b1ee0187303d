"""How `ablate run` stops, through the installed entry point: SIGTERM as Ctrl-C, and job processes that end with it.

`timeout`, systemd, docker and Slurm send SIGTERM; an out-of-memory killer or `kill -9` sends SIGKILL. Either
way no job process may go on training beside a later `--resume`, and no job run may stay RUNNING.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from conftest import ABLATE
from mlflow import MlflowClient

pytestmark = pytest.mark.slow

# A first epoch that takes minutes at the test sizes: the run is stopped while both jobs train.
LONG_FIRST_EPOCH = ["--set", "training.first_epoch_world_model_steps=100000"]


def _start_run(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    assert ABLATE is not None, "the `ablate` console script is not installed (pip install -e .)"
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "ABLATE_VARIANTS_DIR")}
    command = [
        ABLATE,
        "run",
        "jedi",
        "--games",
        "catch",
        "--seeds",
        "2",
        "--budget",
        "test",
        "--jobs",
        "2",
        "--tracking-uri",
        uri,
        *LONG_FIRST_EPOCH,
    ]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env | {"OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return process, uri


def _job_runs(uri: str) -> list[str]:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("ablate")
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id], "tags.`ablate.kind` = 'job'")
    return [run.info.status for run in runs]


def _wait_for_two_training_jobs(process: subprocess.Popen[bytes], uri: str, tmp_path: Path) -> list[psutil.Process]:
    """The two job processes, once each has written its run's first metrics (its trainer is going)."""
    deadline = time.monotonic() + 200  # two processes importing torch on a busy 2-core machine
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        jobs = [
            p for p in psutil.Process(process.pid).children(recursive=True) if "spawn_main" in " ".join(p.cmdline())
        ]
        logs = list(tmp_path.glob("runs/ablate/jedi/catch/*/*/config.json"))
        if len(jobs) == 2 and len(logs) == 2 and _job_runs(uri) == ["RUNNING", "RUNNING"]:
            time.sleep(2)  # past the trainer's start, into its first epoch
            return jobs
        time.sleep(0.5)
    raise AssertionError("the two jobs did not start within 200 s")


def test_sigterm_stops_ablate_run_as_ctrl_c_does(tmp_path: Path) -> None:
    process, uri = _start_run(tmp_path)
    try:
        jobs = _wait_for_two_training_jobs(process, uri, tmp_path)
        process.send_signal(signal.SIGTERM)
        assert process.wait(90) == 130
    finally:
        process.kill()
    _, alive = psutil.wait_procs(jobs, timeout=10)
    assert not alive
    assert _job_runs(uri) == ["KILLED", "KILLED"]
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("ablate")
    (parent,) = client.search_runs([experiment.experiment_id], "tags.`ablate.kind` = 'variant'")
    assert parent.info.status == "KILLED"


def test_job_processes_stop_when_ablate_run_is_killed_outright(tmp_path: Path) -> None:
    process, uri = _start_run(tmp_path)
    try:
        jobs = _wait_for_two_training_jobs(process, uri, tmp_path)
        process.kill()
        process.wait(10)
        _, alive = psutil.wait_procs(jobs, timeout=60)
    finally:
        process.kill()
    for job in alive:
        job.kill()
    assert not alive, "job processes went on training after their parent died"
    assert _job_runs(uri) == ["KILLED", "KILLED"]


def test_sigterm_stops_ablate_ui_and_every_server_process(tmp_path: Path) -> None:
    assert ABLATE is not None
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    process = subprocess.Popen(
        [ABLATE, "ui", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        server: list[psutil.Process] = []
        while time.monotonic() < deadline and not server:
            assert process.poll() is None
            server = [
                p
                for p in psutil.Process(process.pid).children(recursive=True)
                if any(c.status == psutil.CONN_LISTEN for c in p.net_connections())
            ]
            time.sleep(0.5)
        assert server, "the MLflow server did not listen within 120 s"
        tree = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        process.kill()
    _, alive = psutil.wait_procs(tree, timeout=15)
    for leftover in alive:
        leftover.kill()
    assert not alive, f"server processes outlived `ablate ui`: {[p.pid for p in alive]}"
