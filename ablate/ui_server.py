"""`ablate ui`: the MLflow UI served on a store, one server per store, opened on the experiment's runs table."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from mlflow import MlflowClient

from ablate.errors import UsageError
from ablate.locks import owner, owner_alive, sqlite_path
from ablate.stopping import stop_signals_ignored
from ablate.tracking import EXPERIMENT_TAGS, UI_VIEW, Tracker, check_tracking_uri, resolve_tracking_uri, retry_locked


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_UI_START_S = 120.0  # MLflow migrates a fresh database's schema before it answers: seconds, more when busy


def serve_ui(uri: str | None, port: int | None, on_ready: Callable[[str], None], experiment: str = "ablate") -> int:
    """Serve the MLflow UI on the store at 127.0.0.1 until interrupted; `on_ready` gets the experiment's runs table
    once the server answers.

    A tracking server (http/https URI) already serves its UI: it is given the runs table there (the server's address
    while the experiment does not exist yet), and nothing is started.
    """
    uri = resolve_tracking_uri(uri)
    if uri.startswith(("http://", "https://")):
        check_tracking_uri(uri)
        found = retry_locked(MlflowClient(uri).get_experiment_by_name, experiment)
        on_ready(runs_url(uri.rstrip("/"), found.experiment_id) if found is not None else uri)
        return 0
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"--port must be between 1 and 65535, got {port}")
    check_tracking_uri(uri)
    state, log = _ui_files(uri)
    serving = _serving(state)
    if serving is not None:
        other_port, pid = serving
        found = retry_locked(MlflowClient(uri).get_experiment_by_name, experiment)
        url = f"http://127.0.0.1:{other_port}"
        where = runs_url(url, found.experiment_id) if found is not None else url
        raise UsageError(f"`ablate ui` (pid {pid}) is already serving {uri} at {where}; open that, or stop it first")
    if port is not None:
        _check_port_free(port)
    tracker = Tracker.open(experiment, uri)
    _add_experiment_tags(tracker)
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        # One worker serves one user's browser, and starts in under half the time MLflow's default four take.
        "--workers",
        "1",
    ]
    # MLflow's GenAI job runner (a pool of worker processes) serves nothing `ablate` records. Uvicorn also reads its
    # options from UVICORN_*: no line per request in the log, and an MLflow that serves with gunicorn ignores it.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "UVICORN_ACCESS_LOG": "false"}
    # Its startup chatter and warnings go to its log, not between the user's terminal lines; its own session, so
    # that stopping reaches the server process MLflow starts too.
    with open(log, "w") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_answering(server, base, log)
        _write_state(state, port)
        on_ready(runs_url(base, tracker.experiment_id))
        return server.wait()
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM stops the server too; that is how the UI is closed
        return 0
    finally:
        with stop_signals_ignored():  # a second Ctrl-C must not leave the server running
            _stop_process_group(server)
            _remove_state(state)


def runs_url(base: str, experiment_id: str) -> str:
    """The experiment's runs table in the UI at `base`: the model-training pages and the shared view's columns.

    MLflow 3.17 takes the pages from the link (else the browser's last choice), older MLflow 3 from the experiment's
    kind.
    """
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning&viewStateShareKey={UI_VIEW}"


def _add_experiment_tags(tracker: Tracker) -> None:
    """The UI's tags on an experiment made before `ablate` set them; a kind chosen since in the UI stays."""
    found = retry_locked(tracker.client.get_experiment, tracker.experiment_id)
    for key, value in EXPERIMENT_TAGS.items():
        if key not in found.tags:
            retry_locked(tracker.client.set_experiment_tag, tracker.experiment_id, key, value)


def _ui_files(uri: str) -> tuple[Path, Path]:
    """The record of the `ablate ui` serving a store, and its server's log: in the temporary directory, named after
    the store (its database file for SQLite, however the URI spells it) and the user, as the schema lock is."""
    path = sqlite_path(uri)
    digest = hashlib.sha256(str(path or uri).encode()).hexdigest()[:16]
    base = Path(tempfile.gettempdir()) / f"ablate-ui-{os.getuid()}-{digest}"
    return base.with_suffix(".json"), base.with_suffix(".log")


def _serving(state: Path) -> tuple[int, str] | None:
    """The port and pid of the `ablate ui` that `state` records, if it still runs and its server answers."""
    try:
        record = json.loads(state.read_text())
        port, pid, started = int(record["port"]), str(record["pid"]), str(record["started"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not owner_alive(socket.gethostname(), pid, started) or not _answers(f"http://127.0.0.1:{port}"):
        return None  # stale: its process died without removing it, or a new one has its pid
    return port, pid


def _write_state(state: Path, port: int) -> None:
    me = owner()
    partial = state.with_suffix(".tmp")
    partial.write_text(json.dumps({"port": port, "pid": me["pid"], "started": me["started"]}))
    partial.replace(state)  # whole or absent for another `ablate ui` reading it


def _remove_state(state: Path) -> None:
    """Remove this process's record; a record of another `ablate ui` (which found this one's stale) stays."""
    with suppress(OSError, ValueError, KeyError):
        if json.loads(state.read_text())["pid"] == owner()["pid"]:
            state.unlink()


def _check_port_free(port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT does not count
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as err:
            raise UsageError(
                f"--port {port}: cannot listen on 127.0.0.1:{port} ({err.strerror}); choose another port, "
                "or leave --port out for a free one"
            ) from None


def _answers(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=2):
            return True
    except OSError:
        return False


def _wait_until_answering(server: subprocess.Popen, base: str, log: Path) -> None:
    deadline = time.monotonic() + _UI_START_S
    while not _answers(base):
        if server.poll() is not None or time.monotonic() > deadline:
            lines = [line for line in log.read_text().splitlines() if line.strip()]
            reason = lines[-1].strip() if lines else f"it exited with code {server.returncode}"
            raise UsageError(f"the MLflow UI did not start: {reason} (its log: {log})")
        time.sleep(0.2)


def _stop_process_group(process: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """SIGTERM every process of `process`'s group, then SIGKILL what is left after `timeout_s`."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout_s)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
