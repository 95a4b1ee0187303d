"""`ablate study`: definitions and their validation, and studies run end to end against Optuna and MLflow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from conftest import FakeTrain, runs_of
from mlflow import MlflowClient
from optuna.trial import TrialState

import ablate.studies as studies
from ablate.cli.main import main
from ablate.config import resolve_config
from ablate.errors import UsageError
from ablate.jedi.trainer import EpochReport
from ablate.runner import execute
from ablate.studies import heartbeats, list_studies, load_study, pruning_step
from ablate.studies import storage as study_storage

# Heartbeats and stale-trial retries are experimental in Optuna; the module silences that, pytest's capture does not.
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
GRID4 = '"sampler.num_steps" = [1, 2]\n"world_model.clamp" = [true, false]\n'


def study_file(name: str, space: str = GRID4, **fields: str) -> Path:
    """A study in the working directory's studies/: catch, the `test` budget, a grid, unless `fields` say otherwise."""
    values = {
        "description": '"A test study."',
        "games": '"catch"',
        "budget": '"test"',
        "objective": '"mean_return"',
        "search": '"grid"',
        **fields,
    }
    lines = [f"{key} = {value}" for key, value in values.items() if value is not None]
    path = Path("studies") / f"{name}.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n[space]\n" + space)
    return path


def run_args(name: str, where: dict[str, str], *extra: str) -> list[str]:
    return [
        "study",
        "run",
        name,
        "--storage",
        where["storage"],
        "--tracking-uri",
        where["uri"],
        "--device",
        "cpu",
        *extra,
    ]


def trials_of(name: str, where: dict[str, str]) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=where["storage"]).get_trials()


# -- definitions ---------------------------------------------------------------------------------------------------


def test_shipped_studies_load() -> None:
    shipped = {d.name: d for d in list_studies()}
    assert {"latent-dim", "denoise-steps", "design-choices", "training-hparams"} <= set(shipped)
    (shapes,) = shipped["latent-dim"].space
    assert {"8x4x4", "16x8x8", "32x16x16"} <= set(shapes.values)
    assert len({value for value in shapes.values if value.endswith("x8x8")}) >= 3  # channel counts at 8x8
    assert shipped["denoise-steps"].points() == [{"sampler.num_steps": n} for n in (1, 2, 3, 5, 10)]
    design = shipped["design-choices"]
    assert design.sampler == "grid" and design.grid_size == design.n_trials == 18
    assert [axis.key for axis in design.space] == [
        "world_model.stop_gradient",
        "world_model.switch_prob",
        "world_model.clamp",
    ]
    hparams = shipped["training-hparams"]
    assert hparams.sampler == "tpe" and hparams.grid_size is None and hparams.pruner == "median"
    assert next(axis for axis in hparams.space if axis.key == "training.lr").log


def test_run_options_override_the_file(where: dict[str, str]) -> None:
    d = load_study("latent-dim", budget="test", games="catch", objective="mean_return", n_trials=4)
    assert (d.budget, d.games, d.objective, d.direction, d.n_trials, d.grid_size) == (
        "test",
        ("catch",),
        "mean_return",
        "maximize",
        4,
        7,
    )
    assert load_study("latent-dim", objective="optimality_gap").direction == "minimize"
    study_file("own", description='"Mine, in the working directory."')
    assert load_study("own").path.resolve() == (Path("studies") / "own.toml").resolve()


@pytest.mark.parametrize(
    ("fields", "space", "message"),
    [
        (
            {},
            '"world_model.clmp" = [true, false]\n',
            "unknown config key 'world_model.clmp' (did you mean 'world_model.clamp'?)",
        ),
        ({}, "", "the search space is empty"),
        ({"n_trials": "2"}, GRID4, "the grid of 4 points is too large for n_trials = 2"),
        ({"n_trials": "5"}, GRID4, "n_trials = 5 exceeds the grid's 4 points"),
        ({"objective": '"sym_hns"'}, GRID4, "objective 'sym_hns' cannot be computed on catch; there: mean_return"),
        ({"objective": '"hns:catch"'}, GRID4, "objective 'hns:catch' cannot be computed on catch"),
        ({"objective": '"iqn"'}, GRID4, "unknown objective 'iqn' (did you mean 'iqm'?)"),
        ({"serach": '"tpe"'}, GRID4, "unknown field 'serach' (did you mean 'search'?)"),
        ({"sampler": '"tpe"'}, GRID4, "'sampler' is spelt 'search' in a study file"),
        ({"description": None}, GRID4, "'description' must be a non-empty string"),
        ({"variant": '"jedii"'}, GRID4, "unknown variant 'jedii' (did you mean 'jedi'?)"),
        ({"games": '"pongg"'}, GRID4, "unknown game or set 'pongg'"),
        ({"search": '"cmaes"'}, GRID4, "unknown sampler 'cmaes'"),
        ({"search": '"tpe"'}, GRID4, "'n_trials' is required with sampler 'tpe'"),
        ({"pruner": '{ name = "median", n_startup = 2 }'}, GRID4, "pruner options: "),
        ({}, '"training.lr" = { low = 1e-5, high = 1e-3 }\n', "sampler 'grid' needs finitely many points"),
        (
            {"search": '"random"', "n_trials": "3"},
            '"training.lr" = { low = 1e-3, high = 1e-5 }\n',
            "low must be below high",
        ),
        (
            {"search": '"random"', "n_trials": "3"},
            '"training.lr" = { low = 0.0, high = 1e-3, log = true }\n',
            "a log range needs a positive low",
        ),
        ({}, '"world_model.stop_gradient" = { low = 0, high = 1 }\n', "is not numeric"),
        ({}, '"world_model.latent_shape" = ["16x8x8", "3x5x5"]\n', "space point world_model.latent_shape=3x5x5"),
        ({}, '"world_model.latent_shape" = [[16, 8, 8]]\n', "write shapes as strings"),
    ],
)
def test_bad_definition_is_one_line_exit_2_before_anything_starts(
    where: dict[str, str], fields: dict[str, str], space: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    study_file("bad", space, **fields)
    assert main(run_args("bad", where)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: study 'bad' (") and message in err and err.count("\n") == 1, err
    assert not Path("optuna.db").exists() and not Path("mlflow.db").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--objective", "sym_hns"], "objective 'sym_hns' cannot be computed on catch"),
        (["--n-trials", "9"], "--n-trials 9 exceeds the grid's 4 points"),
        (["--budget", "huge"], "unknown budget 'huge'"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--device", "tpu"], "device"),
    ],
)
def test_bad_run_option_is_refused_before_anything_starts(
    where: dict[str, str], extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    study_file("grid4")
    assert main(run_args("grid4", where, *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not Path("optuna.db").exists() and not Path("mlflow.db").exists()


def test_unknown_study_storage_and_dashboard(
    where: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["study", "show", "latent-dimm"]) == 2
    assert "unknown study 'latent-dimm' (did you mean 'latent-dim'?)" in capsys.readouterr().err
    assert main(["study", "status", "latent-dim"]) == 2
    assert "no Optuna storage at" in capsys.readouterr().err and not Path("optuna.db").exists()
    assert main(run_args("latent-dim", where, "--storage", "optuna.db")) == 2
    assert "'optuna.db' is not a storage URL" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # as when the optional extra is not installed
    assert main(["study", "dashboard", "latent-dim"]) == 2
    assert "pip install 'ablate[dashboard]'" in capsys.readouterr().err


# -- running studies -----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_grid_with_two_workers_runs_each_point_once_and_optuna_agrees_with_mlflow(
    where: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    study_file("grid4")  # real trainings, in two worker processes sharing one SQLite storage
    assert main(run_args("grid4", where, "--workers", "2")) == 0, capsys.readouterr()
    trials = trials_of("grid4", where)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert sorted((t.params["sampler.num_steps"], t.params["world_model.clamp"]) for t in trials) == [
        (1, False),
        (1, True),
        (2, False),
        (2, True),
    ]

    client = MlflowClient(where["uri"])
    runs = {run.info.run_id: run for run in runs_of(where["uri"], "trial")}
    assert sorted(runs) == sorted(t.user_attrs["mlflow_run_id"] for t in trials)
    for t in trials:
        run = runs[t.user_attrs["mlflow_run_id"]]
        tags = run.data.tags
        assert run.info.status == "FINISHED" and run.info.run_name == f"grid4/trial{t.number}"
        assert (tags["optuna.study"], tags["optuna.trial_number"], tags["ablate.variant"], tags["optuna.state"]) == (
            "grid4",
            str(t.number),
            "jedi",
            "COMPLETE",
        )
        assert tags["ablate.override.sampler.num_steps"] == str(t.params["sampler.num_steps"])
        assert tags["ablate.override.world_model.clamp"] == str(t.params["world_model.clamp"])
        assert run.data.metrics["objective"] == t.value == run.data.metrics["final/mean_return"]
        assert run.data.params["sampler.num_steps"] == str(t.params["sampler.num_steps"])
        (child,) = [
            job for job in runs_of(where["uri"], "job") if job.data.tags["mlflow.parentRunId"] == run.info.run_id
        ]
        assert child.info.status == "FINISHED" and child.info.run_name == "grid4/jedi/catch/seed0"  # not `ablate run`'s
        assert child.data.tags["ablate.config_hash"] == tags["ablate.config_hash"]

    (study_run,) = runs_of(where["uri"], "study")
    assert study_run.info.status == "FINISHED" and study_run.data.tags["optuna.study"] == "grid4"
    best = optuna.load_study(study_name="grid4", storage=where["storage"]).best_trial
    assert study_run.data.tags["optuna.best_run_id"] == best.user_attrs["mlflow_run_id"]
    assert {a.path for a in client.list_artifacts(study_run.info.run_id)} == {"study.json", "objective_vs_params.png"}

    assert main(run_args("grid4", where)) == 0  # the grid is done: nothing more runs
    assert len(trials_of("grid4", where)) == 4 and len(runs_of(where["uri"], "trial")) == 4
    assert len(runs_of(where["uri"], "study")) == 1


def test_pruning_stops_a_poor_trial_early(
    where: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeTrain(returns=lambda call, seed: 10.0 if call == 0 else 0.0)  # the first trial is good, the next poor
    monkeypatch.setattr(execute, "train", fake)
    study_file("prune", '"sampler.num_steps" = [1, 2]\n', pruner='{ name = "median", n_startup_trials = 1 }')
    assert main(run_args("prune", where)) == 0
    first, second = trials_of("prune", where)
    assert first.state == TrialState.COMPLETE and second.state == TrialState.PRUNED
    assert second.intermediate_values == {20: 0.0}  # step = environment steps of the job
    assert [call["epochs"] for call in fake.calls] == [5, 1]  # stopped after the first poor evaluation
    run = MlflowClient(where["uri"]).get_run(second.user_attrs["mlflow_run_id"])
    assert run.info.status == "KILLED" and run.data.tags["optuna.state"] == "PRUNED"
    assert {job.info.status for job in runs_of(where["uri"], "job")} == {"FINISHED", "KILLED"}
    capsys.readouterr()
    assert main(["study", "status", "prune", "--storage", where["storage"]]) == 0
    assert "pruned at step 20" in capsys.readouterr().out


def test_a_failed_trial_is_recorded_and_the_study_goes_on(
    where: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(execute, "train", FakeTrain(fail=lambda config, seed: config.sampler.num_steps == 2))
    study_file("fails", '"sampler.num_steps" = [1, 2, 3]\n')
    assert main(run_args("fails", where)) == 0
    trials = {t.params["sampler.num_steps"]: t for t in trials_of("fails", where)}
    assert {n: t.state for n, t in trials.items()} == {
        1: TrialState.COMPLETE,
        2: TrialState.FAIL,
        3: TrialState.COMPLETE,
    }
    error = trials[2].user_attrs["error"]
    assert error == "fails/jedi/catch/seed0: TrainingError: non-finite world_model loss at epoch 2"
    run = MlflowClient(where["uri"]).get_run(trials[2].user_attrs["mlflow_run_id"])
    assert run.info.status == "FAILED" and run.data.tags["ablate.error"] == error
    assert run.data.tags["optuna.state"] == "FAIL" and "objective" not in run.data.metrics
    capsys.readouterr()
    assert main(["study", "status", "fails", "--storage", where["storage"]]) == 0
    out = capsys.readouterr().out
    assert "TrainingError" in out and "3 of 3 trials finished" in out
    assert main(run_args("fails", where, "--budget", "smoke")) == 2  # joining needs the same settings
    assert "created with other settings (budget test there, smoke here)" in capsys.readouterr().err


@pytest.mark.slow
def test_an_interrupted_study_continues_where_it_stopped(
    where: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeTrain(interrupt=lambda config: config.sampler.num_steps == 2)  # Ctrl-C during that point's training
    monkeypatch.setattr(execute, "train", fake)
    study_file("resume", '"sampler.num_steps" = [1, 2, 3]\n', search='{ name = "grid", seed = 1 }')
    assert main(run_args("resume", where)) == 130
    trials = trials_of("resume", where)
    interrupted = next(t for t in trials if t.state == TrialState.FAIL)
    assert interrupted.user_attrs["error"] == "interrupted"
    assert [t.state for t in trials if t.number > interrupted.number] == [TrialState.WAITING]  # queued to resume
    run_id = interrupted.user_attrs["mlflow_run_id"]
    assert MlflowClient(where["uri"]).get_run(run_id).info.status == "KILLED"
    assert "RUNNING" not in {run.info.status for run in runs_of(where["uri"], "job") + runs_of(where["uri"], "trial")}
    done_before = [call["num_steps"] for call in fake.calls if call["epochs"] == 5]

    assert main(run_args("resume", where)) == 0
    trials = trials_of("resume", where)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert sorted(t.params["sampler.num_steps"] for t in complete) == [1, 2, 3]
    retry = next(t for t in complete if t.params["sampler.num_steps"] == 2)
    assert retry.user_attrs["mlflow_run_id"] == run_id  # the same MLflow run, continued
    run = MlflowClient(where["uri"]).get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["optuna.trial_number"] == str(retry.number)
    assert [call["resume"] for call in fake.calls if call["num_steps"] == 2] == [False, True]
    finished = [call["num_steps"] for call in fake.calls if call["epochs"] == 5]
    assert sorted(finished) == [1, 2, 3] and finished[: len(done_before)] == done_before  # nothing trained twice
    assert len(runs_of(where["uri"], "trial")) == 3 and len(runs_of(where["uri"], "job")) == 3


def test_pruning_steps_rise_through_the_final_epochs_and_keep_jobs_apart() -> None:
    """The final epochs collect nothing, so env steps stand still; their evaluations still get steps of their own."""
    config = resolve_config("smoke")  # 1,000 env steps, 3 final epochs: 500 steps, then 100 an epoch to epoch 6
    env_steps = {1: 500, 5: 900, 6: 1_000, 7: 1_000, 8: 1_000, 9: 1_000}
    steps = [
        pruning_step(config, place, EpochReport(epoch, env_steps[epoch], {}, 9))
        for place in (0, 1)
        for epoch in env_steps
    ]
    assert steps[:6] == [500, 900, 1_000, 1_001, 1_002, 1_003]
    assert steps[6:] == [step + 1_003 for step in steps[:6]]


@pytest.mark.slow
@pytest.mark.parametrize("rerun", ["after the grace", "within the grace"])
def test_a_killed_worker_s_trial_is_failed_then_continued(
    where: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rerun: str
) -> None:
    """Rerun within the grace, the study once closed FINISHED with a point missing; now it waits the grace out."""
    study_file("killed", '"sampler.num_steps" = [1, 2]\n')
    # A real `ablate study run` (real trainer), killed outright while its first trial trains.
    command = [sys.executable, "-c", "from ablate.cli.main import entry; entry()", *run_args("killed", where)]
    worker = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    trials: list[optuna.trial.FrozenTrial] = []
    while not any("mlflow_run_id" in t.user_attrs for t in trials) and time.monotonic() < deadline:
        time.sleep(0.5)
        # open_storage, not optuna's own: this reader may open the database while the worker creates its tables
        storage = studies.open_storage(where["storage"]) if Path("optuna.db").exists() else None
        if storage is not None and "killed" in optuna.get_all_study_names(storage):
            trials = trials_of("killed", where)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    (victim,) = [t for t in trials if "mlflow_run_id" in t.user_attrs]
    run_id = victim.user_attrs["mlflow_run_id"]
    assert MlflowClient(where["uri"]).get_run(run_id).info.status == "RUNNING"  # left behind by the dead worker

    monkeypatch.setattr(heartbeats, "HEARTBEAT_S", 1)
    if rerun == "after the grace":
        monkeypatch.setattr(heartbeats, "GRACE_S", 1)  # a heartbeat older than this is stale
        time.sleep(3)  # SQLite's clock counts whole seconds
    else:
        monkeypatch.setattr(heartbeats, "GRACE_S", 10)
        time.sleep(3)
        (row,) = [r for r in studies.study_status("killed", where["storage"]).trials if r.state == "RUNNING"]
        assert "; silent for " in row.note  # what `ablate study status` shows of a trial whose worker died
    monkeypatch.setattr(execute, "train", FakeTrain())
    assert main(run_args("killed", where)) == 0
    trials = trials_of("killed", where)
    assert trials[victim.number].state == TrialState.FAIL
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert sorted(t.params["sampler.num_steps"] for t in complete) == [1, 2]
    assert run_id in {t.user_attrs["mlflow_run_id"] for t in complete}  # the retry continued the killed run
    assert {run.info.status for run in runs_of(where["uri"], "trial") + runs_of(where["uri"], "job")} == {"FINISHED"}


def test_load_study_wraps_errors_with_the_file(where: dict[str, str]) -> None:
    path = study_file("broken", "")
    path.write_text("description = \n")
    with pytest.raises(UsageError, match=r"study 'broken' \(.*broken.toml\): malformed TOML"):
        load_study("broken")


def test_opening_a_database_whose_tables_another_process_is_creating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process that loses the race to create a fresh database's tables sees "already exists" and goes on."""
    real, calls = study_storage.RDBStorage, []

    def racing(url: str, **kwargs: object) -> optuna.storages.RDBStorage:
        calls.append(url)
        storage = real(url, **kwargs)  # the winner's tables now exist
        if len(calls) == 1:
            raise sqlalchemy.exc.OperationalError("CREATE TABLE studies", {}, Exception("table studies already exists"))
        return storage

    monkeypatch.setattr(study_storage, "RDBStorage", racing)
    url = f"sqlite:///{tmp_path}/fresh.db"
    assert studies.open_storage(url).get_all_studies() == [] and len(calls) == 2

    def unreachable(url: str, **kwargs: object) -> optuna.storages.RDBStorage:
        raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("unable to open database file"))

    monkeypatch.setattr(study_storage, "RDBStorage", unreachable)
    with pytest.raises(UsageError, match="cannot open Optuna storage"):  # other errors are not retried
        studies.open_storage(url)


@pytest.mark.slow
def test_two_study_runs_started_together_on_fresh_stores_share_the_grid(where: dict[str, str], tmp_path: Path) -> None:
    """Two `ablate study run` at once crashed one of them (both created the stores' schemas)."""
    from conftest import ABLATE

    study_file("together", space='"sampler.num_steps" = [1, 2]\n')
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    processes = [
        subprocess.Popen(
            [ABLATE, *run_args("together", where)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    errors = [p.communicate(timeout=240)[1].decode() for p in processes]
    assert [p.returncode for p in processes] == [0, 0], errors
    trials = trials_of("together", where)
    assert sorted(t.params["sampler.num_steps"] for t in trials if t.state == TrialState.COMPLETE) == [1, 2]
