"""Many machines, for real: a PostgreSQL Optuna storage and an `mlflow server` over PostgreSQL, both on loopback.

Each "machine" is a working directory of its own and a process of its own, as in the README's "Several GPU
machines, one study": they share nothing but the two servers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import optuna
import pytest
from conftest import ABLATE, Postgres, TrackingServer
from mlflow import MlflowClient
from mlflow.entities import Run
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")]

GRID4 = '"sampler.num_steps" = [1, 2]\n"world_model.clamp" = [true, false]\n'
JOB_ARTIFACTS = {"config.json", "result.json", "eval_returns.csv", "learning_curve.png"}
# `ablate study run` with a heartbeat every second and a 10 s grace instead of 30 s and 3 minutes, so that a
# killed worker's trial is retried in seconds; the grace still spans many heartbeats of a live worker on a busy
# machine.
QUICK_HEARTBEAT = (
    "import ablate.studies.heartbeats as h; h.HEARTBEAT_S, h.GRACE_S = 1, 10; "
    "from ablate.cli.main import entry; entry()"
)
WAIT_S = 240.0
T = TypeVar("T")


def machine(root: Path, study: str, space: str) -> Path:
    """A machine's working directory, holding the study's file as a checkout of the same commit would."""
    root.mkdir()
    (root / "studies").mkdir()
    (root / "studies" / f"{study}.toml").write_text(
        'description = "Two machines, one study."\ngames = "catch"\nbudget = "test"\nobjective = "mean_return"\n'
        f'search = "grid"\n[space]\n{space}'
    )
    return root


def environment(server: TrackingServer) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "ABLATE_VARIANTS_DIR"}
    return env | {"MLFLOW_TRACKING_URI": server.uri, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}


def study_worker(
    where: Path, study: str, postgres: Postgres, server: TrackingServer, *, quick_heartbeat: bool = False
) -> subprocess.Popen[str]:
    ablate = [sys.executable, "-c", QUICK_HEARTBEAT] if quick_heartbeat else [ABLATE]
    return subprocess.Popen(
        [*ablate, "study", "run", study, "--storage", postgres.url("optuna"), "--device", "cpu"],
        cwd=where,
        env=environment(server),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # killed with its process group, as a machine that is lost
    )


def study_status(where: Path, study: str, postgres: Postgres, server: TrackingServer) -> str:
    command = [ABLATE, "study", "status", study, "--storage", postgres.url("optuna")]
    done = subprocess.run(command, cwd=where, env=environment(server), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def search(server: TrackingServer, query: str) -> list[Run]:
    client = MlflowClient(server.uri)
    experiment = client.get_experiment_by_name("ablate")
    assert experiment is not None
    return list(client.search_runs([experiment.experiment_id], query))


def study_runs(server: TrackingServer, study: str) -> tuple[dict[str, Run], dict[str, Run]]:
    """The study's trial runs and job runs, by run id."""
    trials = search(server, f"tags.`ablate.kind` = 'trial' and tags.`optuna.study` = '{study}'")
    jobs = search(server, f"tags.`ablate.kind` = 'job' and attributes.run_name LIKE '{study}/%'")
    return {r.info.run_id: r for r in trials}, {r.info.run_id: r for r in jobs}


def counted(study: str, postgres: Postgres) -> tuple[list[FrozenTrial], list[FrozenTrial]]:
    """The study's trials, and those that hold a grid point (not skipped as duplicates, not replaced by a retry)."""
    trials = optuna.load_study(study_name=study, storage=postgres.url("optuna")).get_trials()
    replaced = {n for t in trials for n in RetryHeartbeatStaleTrialCallback.retry_history(t)}
    return trials, [t for t in trials if t.number not in replaced and "skipped" not in t.user_attrs]


def points(trials: list[FrozenTrial]) -> list[tuple[object, ...]]:
    return sorted(tuple(sorted(t.params.items())) for t in trials)


def wait_for(condition: Callable[[], T], what: str) -> T:
    deadline = time.monotonic() + WAIT_S
    while not (found := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)
    return found


def test_two_machines_share_the_grid_and_the_tracking_server(
    postgres: Postgres, tracking_server: TrackingServer, tmp_path: Path
) -> None:
    study = "two-machines"
    machines = [machine(tmp_path / name, study, GRID4) for name in ("machine-a", "machine-b")]
    workers = [study_worker(where, study, postgres, tracking_server) for where in machines]
    outputs = [worker.communicate(timeout=WAIT_S)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs

    trials, holding = counted(study, postgres)
    assert [t.state for t in holding] == [TrialState.COMPLETE] * 4
    assert len(set(points(holding))) == 4  # every grid point ran, and none twice
    assert all("mlflow_run_id" not in t.user_attrs for t in trials if t not in holding)  # a skip trains nothing

    trial_runs, job_runs = study_runs(tracking_server, study)
    assert sorted(trial_runs) == sorted(t.user_attrs["mlflow_run_id"] for t in holding)
    assert sorted(job.data.tags["mlflow.parentRunId"] for job in job_runs.values()) == sorted(trial_runs)
    client = MlflowClient(tracking_server.uri)
    for t in holding:
        run = trial_runs[t.user_attrs["mlflow_run_id"]]
        assert run.info.status == "FINISHED" and run.data.metrics["objective"] == t.value
    for job in job_runs.values():
        assert job.info.status == "FINISHED" and "final/mean_return" in job.data.metrics
        assert {a.path for a in client.list_artifacts(job.info.run_id)} == JOB_ARTIFACTS
    # Both machines trained, each in its own directory: the grid was shared, not run by whoever came first.
    for where, worker in zip(machines, workers, strict=True):
        own = {run_id for run_id, run in trial_runs.items() if run.data.tags["ablate.owner_pid"] == str(worker.pid)}
        assert own and {p.name for p in (where / "runs" / "studies" / study).iterdir() if p.is_dir()} == own
    (study_run,) = search(tracking_server, f"tags.`ablate.kind` = 'study' and tags.`optuna.study` = '{study}'")
    assert study_run.info.status == "FINISHED"  # one study run, which both machines joined
    assert {a.path for a in client.list_artifacts(study_run.info.run_id)} == {"study.json", "objective_vs_params.png"}

    statuses = [study_status(where, study, postgres, tracking_server) for where in machines]
    assert statuses[0] == statuses[1]  # one study, read from either machine
    assert "4 of 4 trials finished" in statuses[0] and all(run_id in statuses[0] for run_id in trial_runs)
    assert postgres.password not in statuses[0]


def test_a_machine_killed_mid_trial_is_recovered_by_the_other(
    postgres: Postgres, tracking_server: TrackingServer, tmp_path: Path
) -> None:
    """The survivor fails the silent trial, ends its runs FAILED and retries it into the same runs; the killed
    machine's checkpoint is on its own disk, so the retry trains the job again from the start."""
    study = "killed-machine"
    victim_dir, survivor_dir = (
        machine(tmp_path / name, study, '"sampler.num_steps" = [1, 2, 3]\n') for name in ("victim", "survivor")
    )
    victim, survivor = (
        study_worker(where, study, postgres, tracking_server, quick_heartbeat=True)
        for where in (victim_dir, survivor_dir)
    )
    query = f"tags.`ablate.kind` = 'job' and tags.`ablate.owner_pid` = '{victim.pid}' and attributes.status = 'RUNNING'"
    (job,) = wait_for(
        lambda: [r for r in search(tracking_server, query) if "world_model/loss" in r.data.metrics],
        "the victim's first epoch",
    )
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    output = survivor.communicate(timeout=WAIT_S)[0]
    assert survivor.returncode == 0, output

    trials, holding = counted(study, postgres)
    assert [t.state for t in holding] == [TrialState.COMPLETE] * 3 and len(set(points(holding))) == 3
    parent = job.data.tags["mlflow.parentRunId"]
    (killed,) = [t for t in trials if t not in holding and t.user_attrs.get("mlflow_run_id") == parent]
    (retry,) = [t for t in holding if RetryHeartbeatStaleTrialCallback.retry_history(t) == [killed.number]]
    assert killed.state == TrialState.FAIL and retry.user_attrs["mlflow_run_id"] == parent  # the same runs, continued

    trial_runs, job_runs = study_runs(tracking_server, study)
    assert len(trial_runs) == len(job_runs) == 3  # nothing recorded twice
    assert {run.info.status for run in [*trial_runs.values(), *job_runs.values()]} == {"FINISHED"}
    assert job_runs[job.info.run_id].data.tags["ablate.owner_pid"] == str(survivor.pid)
    status = study_status(victim_dir, study, postgres, tracking_server)  # the killed machine sees the outcome
    assert f"retried as trial {retry.number} (its worker stopped)" in status and "3 of 3 trials finished" in status


def test_run_with_two_jobs_against_the_tracking_server(tracking_server: TrackingServer, tmp_path: Path) -> None:
    env = {key: value for key, value in environment(tracking_server).items() if key != "MLFLOW_TRACKING_URI"}
    command = [ABLATE, "run", "jedi", "--games", "catch", "--seeds", "2", "--jobs", "2", "--budget", "test"]
    command += ["--device", "cpu", "--tracking-uri", tracking_server.uri]
    run = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = run.communicate(timeout=WAIT_S)[0]
    assert run.returncode == 0, output

    (parent,) = search(tracking_server, f"tags.`ablate.kind` = 'variant' and tags.`ablate.owner_pid` = '{run.pid}'")
    assert parent.info.status == "FINISHED" and "final/mean_return" in parent.data.metrics
    jobs = search(tracking_server, f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert sorted(job.data.tags["ablate.seed"] for job in jobs) == ["0", "1"]
    client = MlflowClient(tracking_server.uri)
    stored = {path.relative_to(tracking_server.artifacts) for path in tracking_server.artifacts.rglob("*.json")}
    for job in jobs:
        assert job.info.status == "FINISHED" and "final/mean_return" in job.data.metrics
        assert client.get_metric_history(job.info.run_id, "eval/return")
        assert {a.path for a in client.list_artifacts(job.info.run_id)} == JOB_ARTIFACTS
        assert any(job.info.run_id in path.parts and path.name == "result.json" for path in stored)
    assert not (tmp_path / "mlruns").exists()  # the artifacts went through the server, not to this machine's disk


def test_ui_of_a_tracking_server_is_its_runs_table(tracking_server: TrackingServer) -> None:
    from ablate.tracking import Tracker
    from ablate.ui_server import runs_url, serve_ui

    seen: list[str] = []
    assert serve_ui(tracking_server.uri, None, seen.append, experiment="ui-check") == 0
    assert seen == [tracking_server.uri]  # no such experiment yet: the server itself
    tracker = Tracker.open("ui-check", tracking_server.uri)
    assert serve_ui(tracking_server.uri, None, seen.append, experiment="ui-check") == 0
    assert seen[1] == runs_url(tracking_server.uri, tracker.experiment_id)
