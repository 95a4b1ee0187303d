"""The Optuna storage: its URL, opening it (SQLite's write lock, racing table creation), creating or joining a
study, loading one for reading.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial

from ablate.errors import UsageError, did_you_mean
from ablate.locks import schema_lock
from ablate.studies import heartbeats
from ablate.studies.definition import StudyDefinition
from ablate.studies.names import ATTR_N_TRIALS, ATTR_RUN_ID, ATTR_SETTINGS
from ablate.tracking import retry_locked

STORAGE_FILE = "optuna.db"
SQLITE_TIMEOUT_S = 120
_SCHEMA_RACE_ATTEMPTS = 3  # opening a fresh database while other processes create its tables
POLL_S = 1.0
CREATOR_WAIT_S = 60.0  # how long a joining worker waits for the study's creator to record its settings and run


def resolve_storage(url: str | None = None) -> str:
    """`--storage`, else optuna.db in the working directory, beside `ablate run`'s mlflow.db."""
    return url or f"sqlite:///{Path.cwd() / STORAGE_FILE}"


def shown_storage(url: str) -> str:
    """The storage URL without its password: what may go into tags and messages."""
    return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)


def open_storage(url: str, on_stale: Callable[[optuna.Study, FrozenTrial], None] | None = None) -> RDBStorage:
    """An Optuna RDB storage; with `on_stale`, running trials send heartbeats and silent ones are handed to it."""
    try:
        sqlite = sqlalchemy.engine.make_url(url).get_backend_name() == "sqlite"
    except sqlalchemy.exc.ArgumentError:
        raise UsageError(
            f"'{url}' is not a storage URL; give an SQLAlchemy URL such as sqlite:///optuna.db "
            "or postgresql://user:password@host/db"
        ) from None
    # Long trials leave pooled server connections idle for hours; pre-ping replaces the ones a server dropped.
    engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if sqlite else {"pool_pre_ping": True}
    heartbeat = (
        {
            "heartbeat_interval": heartbeats.HEARTBEAT_S,
            "grace_period": heartbeats.GRACE_S,
            "heartbeat_stale_trial_callback": on_stale,
        }
        if on_stale
        else {}
    )
    try:
        with schema_lock(url):
            storage = _rdb_storage(url, engine_kwargs=engine_kwargs, **heartbeat)
    except ImportError:
        raise UsageError(
            f"no database driver for '{shown_storage(url)}'; install it, e.g. "
            "pip install 'psycopg[binary]' for postgresql://"
        ) from None
    except sqlalchemy.exc.SQLAlchemyError as err:
        raise UsageError(f"cannot open Optuna storage '{shown_storage(url)}': {str(err).splitlines()[0]}") from None
    if sqlite:
        _lock_on_begin(storage.engine)
    return storage


def _rdb_storage(url: str, **kwargs: Any) -> RDBStorage:
    # Processes that open a fresh database at once (workers on several machines, a reader beside a worker) all
    # create its tables; the ones that lose see "already exists" or a duplicate version row, and the tables exist.
    for _ in range(_SCHEMA_RACE_ATTEMPTS - 1):
        try:
            return retry_locked(RDBStorage, url, **kwargs)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            pass
        except sqlalchemy.exc.OperationalError as err:
            if "already exists" not in str(err):
                raise
    return retry_locked(RDBStorage, url, **kwargs)


def _lock_on_begin(engine: sqlalchemy.Engine) -> None:
    """Make each SQLite transaction take the write lock as it begins (BEGIN IMMEDIATE), waiting for it if need be.

    The driver otherwise begins a transaction at its first write, after the reads that decided it: two workers can
    both read a queued trial as free and both claim it, and a read lock that must become a write lock fails at once
    with "database is locked" instead of waiting. This is SQLAlchemy's documented recipe for pysqlite.
    """
    engine.dispose()  # connections opened while the storage created its tables predate the listeners

    def autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver emits no BEGIN of its own

    sqlalchemy.event.listen(engine, "connect", autocommit_driver)
    sqlalchemy.event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE"))


def _create_or_join(definition: StudyDefinition, storage: RDBStorage, url: str) -> optuna.Study:
    try:
        study = retry_locked(
            optuna.create_study, study_name=definition.name, storage=storage, direction=definition.direction
        )
    except optuna.exceptions.DuplicatedStudyError:
        study = retry_locked(optuna.load_study, study_name=definition.name, storage=storage)
        _wait_for_creator(study)
    settings = json.dumps(definition.settings(), sort_keys=True)
    stored = study.user_attrs.get(ATTR_SETTINGS)
    if stored is None:
        study.set_user_attr(ATTR_SETTINGS, settings)
        study.set_metric_names([definition.objective])
    elif stored != settings:
        theirs, ours = json.loads(stored), json.loads(settings)
        differ = [
            f"{key} {theirs.get(key)} there, {ours[key]} here"
            for key in ours
            if theirs.get(key) != ours[key] and key != "base_config_hash"
        ] or [
            f"the config of variant {definition.variant} at budget {definition.budget} has changed since: config "
            f"hash {theirs.get('base_config_hash')} there, {ours['base_config_hash']} here"
        ]
        raise UsageError(
            f"study '{definition.name}' in {shown_storage(url)} was created with other settings "
            f"({'; '.join(differ)}); run it with the same options, or use another --storage"
        )
    study.set_user_attr(ATTR_N_TRIALS, definition.n_trials)
    return study


def _wait_for_creator(study: optuna.Study) -> None:
    """Wait until the worker that created the study (on this machine or another, a moment ago) has recorded its
    settings and the study's MLflow run: a worker that did not wait would find neither and record its own."""
    deadline = time.monotonic() + CREATOR_WAIT_S
    while not {ATTR_SETTINGS, ATTR_RUN_ID} <= study.user_attrs.keys() and time.monotonic() < deadline:
        time.sleep(POLL_S)  # past the deadline the creator is taken for dead, and this worker records them


def _load(name: str, url: str) -> tuple[optuna.Study, RDBStorage]:
    """An existing study, for reading; never creates a storage file."""
    parsed = sqlalchemy.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        raise UsageError(
            f"no Optuna storage at {parsed.database}; start the study with `ablate study run {name}`, or give --storage"
        )
    storage = open_storage(url)
    try:
        return optuna.load_study(study_name=name, storage=storage), storage
    except KeyError:
        names = optuna.get_all_study_names(storage)
        raise UsageError(
            f"no study '{name}' in {shown_storage(url)}{did_you_mean(name, names)}; "
            f"it holds: {', '.join(names) or 'no study yet'}"
        ) from None
