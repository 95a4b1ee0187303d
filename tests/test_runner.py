"""`ablate run`: the MLflow record end to end, bad input, failures, interruption and resume."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import signal
import struct
import subprocess
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
from conftest import FakeTrain, runs_of
from mlflow import MlflowClient

import ablate
import ablate.runner as runner
from ablate.cli.main import main
from ablate.config import resolve_config
from ablate.errors import UsageError, is_disk_full
from ablate.jedi.trainer import CHECKPOINT, CONFIG, RESULT, EpochReport, RunResult
from ablate.runner import Progress, RunRequest, dispatch, execute, parse_seeds, run_variants
from ablate.stopping import sigterm_as_ctrl_c
from ablate.tracking import Tracker, git_commit

TEST_BUDGET = ["--budget", "test"]


def test_parse_seeds() -> None:
    assert parse_seeds(None, None) == [0]
    assert parse_seeds(3, None) == [0, 1, 2]
    assert parse_seeds(None, "3, 1,3") == [3, 1]
    for count, seed_list in [(0, None), (2, "1"), (None, "a,b"), (None, "-1"), (None, ",")]:
        with pytest.raises(UsageError):
            parse_seeds(count, seed_list)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stopgrad-bth", "--games", "catch"], "unknown variant 'stopgrad-bth' (did you mean 'stopgrad-both'?)"),
        (["jedi", "--games", "pongg"], "unknown game or set 'pongg' (did you mean 'Pong'?)"),
        (["jedi", "--games", "catch", "--set", "world_model.clmp=false"], "did you mean 'world_model.clamp'?"),
        (["jedi", "--games", "catch", "--set", "world_model.clamp=maybe"], "expected true or false"),
        (["jedi", "--games", "catch", "--set", "clamp"], "--set expects key=value"),
        (
            ["early-start", "--games", "catch"],  # valid at the paper's budget, not at `test`'s 80 initial steps
            "variant 'early-start' with budget 'test' and --set: training.initial_steps_min must not exceed",
        ),
        (["jedi", "--games", "catch", "--seeds", "2", "--seed-list", "1,2"], "give --seeds or --seed-list"),
        (["jedi", "--games", "catch", "--jobs", "0"], "--jobs must be at least 1"),
        (["jedi", "--games", "catch", "--device", "tpu"], "device"),
        (["jedi", "--games", "catch", "--budget", "huge"], "unknown budget 'huge'"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_creates_no_run(
    uri: str, tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    variants = tmp_path / "variants"  # the working directory's variants/, searched before the shipped ones
    variants.mkdir()
    (variants / "early-start.toml").write_text('description = "x."\n[overrides]\n"training.initial_steps_min" = 100\n')
    budget = [] if "--budget" in args else TEST_BUDGET
    assert main(["run", *args, *budget, "--tracking-uri", uri]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "mlflow.db").exists()  # validation ran before the store was even opened


@pytest.mark.slow
def test_run_end_to_end_records_the_contract(uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Real trainings in 3 processes against one SQLite file. RoadRunner: an Atari game whose episodes end
    # within a few hundred steps under an untrained policy, so evaluation stays quick.
    code = main(
        [
            "run",
            "jedi",
            "--games",
            "catch,RoadRunner",
            "--seeds",
            "2",
            *TEST_BUDGET,
            "--jobs",
            "3",
            "--save-checkpoints",
            "--tracking-uri",
            uri,
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "jedi: FINISHED" in out and "RoadRunner" in out and "Mean HNS" in out
    assert "HNS*: not the papers' protocol" in " ".join(out.split()) and "DIAMOND" in out  # beside its references

    (parent,) = runs_of(uri, "variant")
    assert parent.info.run_name == "jedi (test)" and parent.info.status == "FINISHED"  # the name shows the budget
    assert {k: parent.data.tags[k] for k in ("ablate.variant", "ablate.games", "ablate.budget", "ablate.seeds")} == {
        "ablate.variant": "jedi",
        "ablate.games": "catch,RoadRunner",
        "ablate.budget": "test",
        "ablate.seeds": "0,1",
    }
    for name in ("mean", "median", "iqm", "optimality_gap"):
        low, value, high = (parent.data.metrics[f"hns/{name}{end}"] for end in ("_ci_low", "", "_ci_high"))
        assert low <= value <= high
    assert "hns/sym_hns" not in parent.data.metrics  # needs both halves of the benchmark

    config = resolve_config("test")
    children = runs_of(uri, "job")
    assert sorted(run.info.run_name for run in children) == [
        "jedi/RoadRunner/seed0",
        "jedi/RoadRunner/seed1",
        "jedi/catch/seed0",
        "jedi/catch/seed1",
    ]
    client = MlflowClient(uri)
    for child in children:
        tags, metrics = child.data.tags, child.data.metrics
        assert child.info.status == "FINISHED"
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert tags["ablate.config_hash"] == config.hash() == parent.data.tags["ablate.config_hash"]
        assert f"jedi/{tags['ablate.game']}/seed{tags['ablate.seed']}" == child.info.run_name
        assert tags["ablate.version"] == ablate.__version__
        assert tags.get("mlflow.source.git.commit") == git_commit()
        assert child.data.params == {key: str(value) for key, value in config.flat().items()}
        assert "final/mean_return" in metrics and "world_model/loss" in metrics and "eval/return" in metrics
        assert ("final/hns" in metrics) == (tags["ablate.game"] == "RoadRunner")
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "world_model/loss")]
        assert steps == sorted(steps) and steps[-1] == config.training.total_env_steps  # step = env steps
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert artifacts == {CONFIG, RESULT, "eval_returns.csv", "learning_curve.png", CHECKPOINT}
        result = json.loads(Path(client.download_artifacts(child.info.run_id, RESULT, str(tmp_path))).read_text())
        assert result["mean_return"] == metrics["final/mean_return"]

    # docs/mlflow.md names every tag, metric and artifact these runs carry, so the page cannot drift from the code.
    documented = (Path(__file__).parents[1] / "docs" / "mlflow.md").read_text()
    for run in [parent, *children]:
        names = [t for t in run.data.tags if t.startswith("ablate.")] + list(run.data.metrics)
        names += [a.path for a in client.list_artifacts(run.info.run_id)]
        for name in names:
            shown = "system/*" if name.startswith("system/") else name.removesuffix("_ci_low").removesuffix("_ci_high")
            assert f"`{shown}`" in documented, f"{name} is not in docs/mlflow.md"


def test_failed_job_is_recorded_and_the_others_finish(
    uri: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        execute,
        "train",
        FakeTrain(epochs=3, returns=lambda call, seed: 10.0 + seed, fail=lambda config, seed: seed == 1),
    )
    code = main(
        ["run", "jedi", "no-clamp", "--games", "catch,Pong", "--seeds", "2", *TEST_BUDGET, "--tracking-uri", uri]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED jedi/Pong/seed1: TrainingError: non-finite world_model loss" in out
    children = {run.info.run_name: run for run in runs_of(uri, "job")}
    assert len(children) == 8
    for name, run in children.items():
        assert run.info.status == ("FAILED" if name.endswith("seed1") else "FINISHED"), name
        assert ("ablate.error" in run.data.tags) == name.endswith("seed1")
        if run.info.status == "FINISHED":  # no checkpoint without --save-checkpoints
            assert CHECKPOINT not in {a.path for a in MlflowClient(uri).list_artifacts(run.info.run_id)}
    parents = runs_of(uri, "variant")
    assert {run.info.status for run in parents} == {"FAILED"}
    assert all(run.data.tags["ablate.error"].startswith("failed jobs: ") for run in parents)
    assert all("hns/mean" in run.data.metrics for run in parents)  # scored over the seeds that finished


def test_progress_reports_every_job(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execute, "train", FakeTrain(epochs=3, returns=lambda call, seed: 10.0 + seed))
    seen: list[tuple[int, int, int]] = []

    def listen(progress: Progress) -> None:
        seen.append((progress.ended_jobs, len(progress.running), progress.epochs_done))

    summary = run_variants(
        RunRequest(["jedi"], "catch", seeds=2, budget="test", tracking_uri=uri, reps=100), on_progress=listen
    )
    assert summary.exit_code == 0 and summary.variants[0].report.per_game["catch"].seeds == 2
    assert (0, 1, 3) in seen and seen[-1] == (2, 0, 6)


def _kill_during_epoch(seed: int, epoch: int):
    """Wrap the real trainer so that job `seed` is interrupted (as by Ctrl-C) after `epoch` epochs."""
    real_train = execute.train

    def train(config, game, job_seed, out_dir, *, callback, **kwargs) -> RunResult:
        def interrupting(report: EpochReport) -> None:
            callback(report)
            if job_seed == seed and report.epoch == epoch:
                raise KeyboardInterrupt

        return real_train(config, game, job_seed, out_dir, callback=interrupting, **kwargs)

    return train


@pytest.mark.slow
def test_interrupted_run_resumes_into_the_same_runs(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    request = RunRequest(["jedi"], "catch", seeds=2, budget="test", tracking_uri=uri, reps=100)
    real_train = execute.train
    monkeypatch.setattr(execute, "train", _kill_during_epoch(seed=1, epoch=2))
    first = run_variants(request)
    assert first.interrupted and first.exit_code == 130
    before = {run.info.run_name: run for run in runs_of(uri, "job")}
    assert {name: run.info.status for name, run in before.items()} == {
        "jedi/catch/seed0": "FINISHED",
        "jedi/catch/seed1": "KILLED",
    }
    assert runs_of(uri, "variant")[0].info.status == "KILLED"

    monkeypatch.setattr(execute, "train", real_train)
    second = run_variants(replace(request, resume=True))
    assert second.exit_code == 0
    after = {run.info.run_name: run for run in runs_of(uri, "job")}
    assert {name: run.info.status for name, run in after.items()} == {
        "jedi/catch/seed0": "FINISHED",
        "jedi/catch/seed1": "FINISHED",
    }
    assert {name: run.info.run_id for name, run in after.items()} == {n: r.info.run_id for n, r in before.items()}
    outcomes = {outcome.job.seed: outcome for outcome in second.variants[0].outcomes}
    assert outcomes[0].reused and not outcomes[1].reused
    (parent,) = runs_of(uri, "variant")  # reopened, not duplicated, and scored over both seeds
    assert parent.info.status == "FINISHED" and parent.data.metrics["final/mean_return"] == pytest.approx(
        sum(o.mean_return for o in outcomes.values()) / 2
    )
    steps = [
        m.step for m in MlflowClient(uri).get_metric_history(after["jedi/catch/seed1"].info.run_id, "world_model/loss")
    ]
    assert steps[-1] == resolve_config("test").training.total_env_steps  # trained on from the checkpoint

    third = run_variants(replace(request, resume=True))  # nothing left to do
    assert third.exit_code == 0 and all(outcome.reused for outcome in third.variants[0].outcomes)
    assert len(runs_of(uri, "job")) == 2 and len(runs_of(uri, "variant")) == 1


def _job_processes() -> list[psutil.Process]:
    return [p for p in psutil.Process().children() if "spawn_main" in " ".join(p.cmdline())]


@pytest.mark.slow
def test_job_process_faults_then_resume(uri: str) -> None:
    """A job process killed outright fails alone; Ctrl-C stops the others (KILLED); --resume finishes them all."""
    request = RunRequest(["jedi"], "catch", seeds=3, budget="test", tracking_uri=uri, jobs=2, reps=100)
    events: list[str] = []

    def faults(progress: Progress) -> None:
        if not events and progress.epochs_done >= 1:
            events.append("kill")
            _job_processes()[0].kill()
        elif events == ["kill"] and getattr(progress.running.get("jedi/catch/seed2"), "epoch", 0) >= 1:
            events.append("ctrl-c")
            # Ctrl-C, raised where the main thread is: os.kill(getpid(), SIGINT) may be taken by another
            # thread and reach the main one late (a CI flake); the jobs ignore SIGINT themselves either way.
            raise KeyboardInterrupt

    first = run_variants(request, on_progress=faults)
    assert events == ["kill", "ctrl-c"]
    assert first.interrupted and first.exit_code == 130 and not _job_processes()
    assert len(first.failed) == 1
    assert "job process killed by SIGKILL (the kernel's out-of-memory killer" in first.failed[0].error
    assert first.failed[0].error.endswith("job.log")
    before = {run.info.run_name: run for run in runs_of(uri, "job")}
    statuses = [run.info.status for run in before.values()]
    assert statuses.count("FAILED") == 1 and before["jedi/catch/seed2"].info.status == "KILLED"
    assert "RUNNING" not in statuses and runs_of(uri, "variant")[0].info.status == "FAILED"

    second = run_variants(replace(request, resume=True))
    assert second.exit_code == 0
    after = {run.info.run_name: run for run in runs_of(uri, "job")}
    assert {run.info.status for run in after.values()} == {"FINISHED"}
    assert {name: run.info.run_id for name, run in after.items()} == {n: r.info.run_id for n, r in before.items()}


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
@pytest.mark.parametrize("jobs", [1, 2])
def test_a_stop_signal_while_a_job_is_opened_stops_the_run_once_that_is_done(
    uri: str, monkeypatch: pytest.MonkeyPatch, jobs: int, signum: int
) -> None:
    """One job at a time in this process, or launched into its own: the signal is held back, not lost.

    A study worker opens its jobs' runs the first way, and SIGTERM is how its parent stops it."""
    request = RunRequest(["jedi"], "catch", seeds=2, budget="test", tracking_uri=uri, jobs=jobs)
    open_job = execute._open_job
    previous = signal.getsignal(signal.SIGTERM)
    sigterm_as_ctrl_c()  # as the `ablate` entry point and every job or worker process set it

    def signalled_while_opening(*args, **kwargs):
        opened = open_job(*args, **kwargs)
        signal.raise_signal(signum)  # the launch goes on to start the job's process
        return opened

    monkeypatch.setattr(execute, "_open_job", signalled_while_opening)
    try:
        result = run_variants(request)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result.interrupted and result.exit_code == 130 and not _job_processes()
    runs = runs_of(uri, "job")
    assert [run.info.run_name for run in runs] == ["jedi/catch/seed0"] and runs[0].info.status == "KILLED"


def test_a_report_torn_by_a_dying_job_closes_only_that_jobs_pipe() -> None:
    """A job killed mid-send leaves half a message: the reports before it arrive, then its pipe is dropped."""
    reports, job_end = multiprocessing.Pipe(duplex=False)
    job_end.send(("epoch", {"loss": 1.0}))
    os.write(job_end.fileno(), struct.pack("!i", 100) + b"x" * 10)  # a 100-byte message cut after 10
    job_end.close()
    worker = dispatch._Worker(ticket=None, process=None, device="cpu", reports=reports)
    assert dispatch._received(worker) == [("epoch", {"loss": 1.0})]
    assert worker.reports is None and dispatch._received(worker) == []


def test_a_second_invocation_of_a_job_in_training_is_refused_and_names_the_holder(
    uri: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two `--resume` at once trained every job twice into one run; now the second says who holds it, exit 2."""
    seen: list[tuple[int, str]] = []
    real = FakeTrain(epochs=3, returns=lambda call, seed: 10.0 + seed)

    def train_while_another_starts(config, game, seed, out_dir, **kwargs):
        if not seen:  # the first job is training: a second invocation of the same command starts now
            assert (
                main(
                    ["run", "jedi", "--games", "catch", "--seeds", "2", *TEST_BUDGET, "--tracking-uri", uri, "--resume"]
                )
                == 2
            )
            seen.append((2, capsys.readouterr().err))
        return real(config, game, seed, out_dir, **kwargs)

    monkeypatch.setattr(execute, "train", train_while_another_starts)
    assert main(["run", "jedi", "--games", "catch", "--seeds", "2", *TEST_BUDGET, "--tracking-uri", uri]) == 0
    ((_, err),) = seen
    assert err.startswith("error: ") and err.count("\n") == 1
    assert f"is being trained by pid {os.getpid()} on " in err and "--resume" in err
    assert len(runs_of(uri, "job")) == 2 and len(runs_of(uri, "variant")) == 1  # the refused one recorded nothing


def test_a_new_run_of_the_same_job_keeps_the_earlier_runs_files(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execute, "train", FakeTrain(epochs=3, returns=lambda call, seed: 10.0 + seed))
    request = RunRequest(["jedi"], "catch", seeds=1, budget="test", tracking_uri=uri, reps=100)
    run_variants(request)
    run_variants(request)  # the same command again, without --resume: a second run
    runs = runs_of(uri, "job")
    assert len(runs) == 2
    dirs = [Path(run.data.tags["ablate.run_dir"]) for run in runs]
    assert dirs[0] != dirs[1] and all((d / CHECKPOINT).exists() for d in dirs)
    assert {d.name for d in dirs} == {run.info.run_id for run in runs}
    assert all(run.data.tags["ablate.owner_pid"] == str(os.getpid()) for run in runs)


@pytest.mark.parametrize("experiment", ["../../outside", "/abs/path", "a/b"])
def test_an_experiment_name_cannot_put_job_directories_outside_out(uri: str, tmp_path: Path, experiment: str) -> None:
    plan = runner.plan_run(RunRequest(["jedi"], "catch", budget="test", experiment=experiment, out=tmp_path / "runs"))
    (job,) = plan.variants[0].jobs
    assert job.out_dir.is_relative_to(tmp_path / "runs") and ".." not in job.out_dir.parts


def test_out_naming_a_file_is_refused(uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("x")
    assert main(["run", "jedi", "--games", "catch", *TEST_BUDGET, "--out", "file", "--tracking-uri", uri]) == 2
    assert "--out file is a file" in capsys.readouterr().err
    assert not (tmp_path / "mlflow.db").exists()


def test_runs_left_running_by_a_dead_invocation_are_named_with_the_way_to_continue_them(
    uri: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(execute, "train", FakeTrain(epochs=3, returns=lambda call, seed: 10.0 + seed))
    tracker = Tracker.open("ablate", uri)
    config = resolve_config("test")
    dead = psutil.Popen(["true"])
    dead.wait()
    parent = runner.open_parent(tracker, "jedi", config, ["Pong"], [0], "test")
    tracker.set_tags(parent, {"ablate.owner_pid": str(dead.pid)})  # as if a kill -9 had ended its owner
    assert main(["run", "jedi", "--games", "catch", *TEST_BUDGET, "--tracking-uri", uri]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"orphaned: run 'jedi (test)' ({parent}) is RUNNING but its owner, pid {dead.pid} on" in out
    assert "ablate run jedi --games Pong --seed-list 0 --budget test --experiment ablate --resume" in out


@pytest.mark.slow
def test_invocations_started_together_on_a_fresh_store_all_work(tmp_path: Path) -> None:
    """Four `ablate run` on a new mlflow.db crashed 9 of 12 times and could leave it half-migrated."""
    from conftest import ABLATE

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"} | {"OMP_NUM_THREADS": "1"}
    commands = [
        [
            ABLATE,
            "run",
            "jedi",
            "--games",
            "catch",
            "--budget",
            "test",
            "--experiment",
            f"c{i % 2}",
            "--out",
            f"runs{i}",
            "--tracking-uri",
            uri,
        ]
        for i in range(4)
    ]
    processes = [
        subprocess.Popen(c, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in commands
    ]
    errors = [p.communicate(timeout=240)[1].decode() for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], errors
    client = MlflowClient(uri)
    assert sorted(e.name for e in client.search_experiments()) == ["Default", "c0", "c1"]
    assert len(client.search_runs([e.experiment_id for e in client.search_experiments()])) == 8


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0"),
    ],
)
def test_a_full_disk_stops_the_run_in_one_line_and_ends_its_runs_killed_with_the_reason(
    uri: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error: Exception
) -> None:
    """ENOSPC as the OS raises it, and torch.save's way of saying it (read off the device's free space)."""

    def train(config, game, seed, out_dir, **kwargs):
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "checkpoint.pt.tmp").write_bytes(b"half a checkpoint")
        raise error

    monkeypatch.setattr(execute, "train", train)
    monkeypatch.setattr(execute, "_free_bytes", lambda path: 0)
    assert main(["run", "jedi", "--games", "catch", "--seeds", "2", *TEST_BUDGET, "--tracking-uri", uri]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "stopped: no space left on the device of " in out and "--resume" in out
    (job,) = runs_of(uri, "job")  # the second job never started
    assert job.info.status == "KILLED" and job.data.tags["ablate.error"].startswith("no space left on the device")
    assert not list(Path(job.data.tags["ablate.run_dir"]).glob("*.tmp"))  # the cut write's file is gone
    assert runs_of(uri, "variant")[0].info.status == "KILLED"


def test_disk_full_is_read_through_the_exceptions_that_wrap_it() -> None:
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("MlflowException: write failed") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)
    assert is_disk_full(RuntimeError("(sqlite3.OperationalError) database or disk is full"))
    assert not is_disk_full(RuntimeError("non-finite loss"))


@pytest.mark.slow
@pytest.mark.parametrize("jobs", [1, 2])
def test_progress_and_eta_move_inside_the_first_epoch(uri: str, jobs: int) -> None:
    """The first epoch holds most gradient steps: the view must move, and show an ETA, before it ends."""
    request = RunRequest(
        ["jedi"],
        "catch",
        seeds=jobs,
        budget="test",
        tracking_uri=uri,
        jobs=jobs,
        reps=100,
        set_options=["training.first_epoch_world_model_steps=300"],
    )
    seen: list[tuple[int, float, float | None]] = []

    def watch(progress: Progress) -> None:
        epochs = max((line.epoch for line in progress.running.values()), default=0)
        seen.append((epochs, progress.fraction, progress.eta_s()))

    assert run_variants(request, on_progress=watch).exit_code == 0
    in_first_epoch = [(fraction, eta) for epochs, fraction, eta in seen if epochs == 0]
    assert len({round(fraction, 3) for fraction, _ in in_first_epoch}) >= 3
    assert any(eta is not None and eta > 0 for _, eta in in_first_epoch)
    assert seen[-1][1] == pytest.approx(1.0)
