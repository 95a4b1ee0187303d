"""Test-wide settings, the installed `ablate` script that subprocess tests run (import it as `conftest`), and a
throwaway PostgreSQL server and MLflow tracking server for the tests of many machines."""

import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from mlflow import MlflowClient
from mlflow.entities import Run

from ablate.config import Config
from ablate.games import GAMES, hns
from ablate.jedi.outputs import CHECKPOINT, CONFIG, RESULT, EpochReport, RunResult, TrainingError

_BIN = Path(sys.executable).parent / "ablate"
ABLATE = str(_BIN) if _BIN.exists() else shutil.which("ablate")

# The test budget's networks are tiny: one thread is faster than two, and it keeps the suite steady on a busy
# 2-core machine (torch's thread pool oversubscribes badly when other processes compete for the cores).
torch.set_num_threads(1)

# Debian's Chromium, headless, for the tests that read a page as a browser renders it. The machine's network is
# closed: without the background-networking flags Chromium waits on connections that are refused.
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
_BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
_BROWSER_FLAGS += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]


def rendered_dom(url: str, profile: Path, *flags: str) -> str:
    """The page at `url` as headless Chromium renders it (`--dump-dom`); the test skips where Chromium is absent."""
    if BROWSER is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    command = [BROWSER, *_BROWSER_FLAGS, *flags, f"--user-data-dir={profile}", "--dump-dom", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


_SERVER_START_S = 120.0  # MLflow migrates a fresh database's schema before it answers: seconds, more when busy


# -- stores and a fake trainer, shared by the orchestration tests ------------------------------------------------


@pytest.fixture
def uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh working directory and MLflow store; one torch thread per process, as `--jobs` would share 2 cores."""
    monkeypatch.chdir(tmp_path)
    for name in ("MLFLOW_TRACKING_URI", "ABLATE_VARIANTS_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # read by the spawned job and worker processes
    monkeypatch.setenv("COLUMNS", "200")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield f"sqlite:///{tmp_path}/mlflow.db"
    torch.set_num_threads(threads)


@pytest.fixture
def where(uri: str, tmp_path: Path) -> dict[str, str]:
    """The same, with an Optuna storage of its own beside the store."""
    return {"storage": f"sqlite:///{tmp_path}/optuna.db", "uri": uri}


def runs_of(uri: str, kind: str) -> list[Run]:
    """The runs of one kind (`ablate.kind`: job, variant, trial, study) in the store's experiment `ablate`."""
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("ablate")
    assert experiment is not None
    return list(client.search_runs([experiment.experiment_id], f"tags.`ablate.kind` = '{kind}'"))


class FakeTrain:
    """A trainer with the real contract that takes no time: `epochs` epochs, each reported with its evaluation, a
    checkpoint file, then a result.

    `returns(call, seed)` gives the mean return of the call-th training; `fail(config, seed)` and `interrupt(config)`
    pick trainings that raise a TrainingError or, once, a KeyboardInterrupt at epoch 2. A resume goes on after the
    last epoch its out_dir finished.
    """

    def __init__(
        self,
        *,
        epochs: int = 5,
        returns: Callable[[int, int], float] = lambda call, seed: 1.0,
        fail: Callable[[Config, int], bool] = lambda config, seed: False,
        interrupt: Callable[[Config], bool] = lambda config: False,
    ) -> None:
        self.epochs, self.returns, self.fail, self.interrupt = epochs, returns, fail, interrupt
        self.calls: list[dict[str, Any]] = []
        self.checkpointed: dict[Path, int] = {}  # out_dir -> last epoch done

    def __call__(
        self,
        config: Config,
        game: str,
        seed: int,
        out_dir: Path,
        *,
        device: str = "auto",
        resume: bool = False,
        callback: Callable[[EpochReport], None] | None = None,
        progress: bool = True,
        on_work: Any = None,
    ) -> RunResult:
        call: dict[str, Any] = {"num_steps": config.sampler.num_steps, "resume": resume, "epochs": 0}
        self.calls.append(call)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / CONFIG).write_text(json.dumps(config.to_dict()))
        mean = self.returns(len(self.calls) - 1, seed)
        first = self.checkpointed.get(out_dir, 0) + 1 if resume else 1
        for epoch in range(first, self.epochs + 1):
            if epoch == 2 and self.fail(config, seed):
                raise TrainingError("non-finite world_model loss at epoch 2")
            if epoch == 2 and self.interrupt(config) and not resume:
                raise KeyboardInterrupt
            call["epochs"] = self.checkpointed[out_dir] = epoch
            assert callback is not None
            metrics = {"world_model/loss": 1 / epoch, "eval/return": mean}
            callback(EpochReport(epoch, 20 * epoch, metrics, self.epochs))
            (out_dir / CHECKPOINT).write_bytes(b"checkpoint")
        atari = GAMES[game].is_atari
        result = RunResult(
            game, seed, 20 * self.epochs, [mean - 1, mean + 1], mean, hns(game, mean) if atari else None, 0.1
        )
        (out_dir / RESULT).write_text(json.dumps(result.to_dict()))
        return result


def _postgres_bin() -> Path | None:
    """The directory of PostgreSQL's server programs: Debian's newest /usr/lib/postgresql/N/bin, else the PATH's."""
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    found = debian[-1] if debian else shutil.which("initdb")
    return Path(found).parent if found and (Path(found).parent / "pg_ctl").exists() else None


@dataclass(frozen=True)
class Postgres:
    port: int
    user: str
    password: str

    def url(self, database: str) -> str:
        """An SQLAlchemy URL of one database; the driver is named, as SQLAlchemy before 2.1 defaults to psycopg2."""
        return f"postgresql+psycopg://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server of its own on 127.0.0.1 (a fresh cluster, a free port) with databases optuna and mlflow."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL's server programs (initdb, pg_ctl) are not installed; on Debian: apt-get install postgresql"
        )
    psycopg = pytest.importorskip("psycopg", reason="the PostgreSQL driver is missing: pip install -e '.[test]'")
    from ablate.ui_server import free_port

    server = Postgres(free_port(), "ablate", "s3cret")
    # Not pytest's tmp_path, which only its owner may enter. In memory where there is room: the cluster's thousands
    # of files, once written out, took seconds to delete from a disk mounted with `discard`.
    shm = Path("/dev/shm")
    memory = shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 1 << 30
    root = Path(tempfile.mkdtemp(prefix="ablate-postgres-", dir=shm if memory else None))
    password_file = root / "password"
    password_file.write_text(server.password)
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to the package's postgres user (or nobody)
        owner = "postgres" if any(u.pw_name == "postgres" for u in pwd.getpwall()) else "nobody"
        as_user = ["runuser", "-u", owner, "--"]
        for path in (root, password_file):
            shutil.chown(path, owner, pwd.getpwnam(owner).pw_gid)
    data = root / "data"
    pg_ctl = [*as_user, bin_dir / "pg_ctl", "--pgdata", data]
    # Durability is of no use to a throwaway cluster, and skipping fsync keeps a busy machine's disk out of it.
    options = f"-c listen_addresses=127.0.0.1 -c port={server.port} -c unix_socket_directories={root} -c fsync=off"
    try:
        _run(
            [
                *as_user,
                bin_dir / "initdb",
                "--pgdata",
                data,
                "--username",
                server.user,
                "--pwfile",
                password_file,
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--no-sync",
            ]
        )
        _run([*pg_ctl, "--log", root / "log", "--wait", "--options", options, "start"], log=root / "log")
        with psycopg.connect(
            host="127.0.0.1", port=server.port, user=server.user, password=server.password, dbname="postgres"
        ) as connection:
            connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            for database in ("optuna", "mlflow"):
                connection.execute(f"CREATE DATABASE {database}")
        yield server
    finally:
        subprocess.run([*pg_ctl, "--mode", "immediate", "stop"], capture_output=True)  # fails only if never started
        shutil.rmtree(root, ignore_errors=True)


def _run(command: list[str | Path], log: Path | None = None) -> None:
    """Run a setup command; when it fails, the test errors with what it said (and its server log)."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        said = done.stdout + done.stderr + (log.read_text() if log is not None and log.exists() else "")
        pytest.fail(f"{' '.join(map(str, command))} failed:\n{said[-3000:]}")


@dataclass(frozen=True)
class TrackingServer:
    uri: str
    artifacts: Path  # where the server keeps the artifacts its clients upload to it


@pytest.fixture(scope="session")
def tracking_server(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingServer]:
    """`mlflow server` on 127.0.0.1 over the PostgreSQL database mlflow, serving artifacts from a directory."""
    from ablate.ui_server import free_port

    root = tmp_path_factory.mktemp("mlflow-server")
    server = TrackingServer(f"http://127.0.0.1:{free_port()}", root / "artifacts")
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        postgres.url("mlflow"),
        "--artifacts-destination",
        str(server.artifacts),
        "--host",
        "127.0.0.1",
        "--port",
        server.uri.rpartition(":")[2],
        "--workers",
        "2",  # as few as serve two machines' writes: each worker is a process of its own on a 2-core runner
    ]
    # MLflow's GenAI job runner (a pool of worker processes) serves nothing `ablate` records.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = root / "server.log"
    with open(log, "w") as out:
        # Its own session: the server's worker processes are stopped with it.
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + _SERVER_START_S
        while not _answers(server.uri):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start; its log:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # nothing of a throwaway server is kept: no need to wait for its stop
        process.wait()


def _answers(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2):
            return True
    except (urllib.error.URLError, OSError):
        return False
