"""Ablation studies: one TOML file per study in studies/, run by Optuna, each trial an MLflow parent run of jobs.

A study file:

    description = "One sentence: what is swept and which question of the paper it answers."
    variant = "jedi"              # the base variant (default jedi); sampled values go on top of its overrides
    games = "atari100k"           # a set expression, as `--games`
    seeds = [0]                   # default [0]
    budget = "atari100k"          # default atari100k
    objective = "sym_hns"         # an aggregate of ablate.scoring, "hns:<game>", or "mean_return" (the one for catch)
    direction = "maximize"        # default: minimize for optimality_gap, maximize otherwise
    sampler = "grid"              # grid, tpe (default), random, bruteforce; or { name = "tpe", seed = 0, ... }
    pruner = "none"               # none (default), median, hyperband; or { name = "median", n_startup_trials = 3 }
    n_trials = 20                 # required for tpe and random; grid and bruteforce run every point once
    [space]                       # dotted config keys
    "world_model.latent_shape" = ["8x4x4", "16x8x8"]            # a list: categorical
    "training.lr" = { low = 1e-5, high = 1e-3, log = true }    # a range: int or float, by the key's type

How a study runs, and the decisions behind it:
- Create or join: the Optuna study is named after the file and lives in an RDB storage (default `optuna.db` in the
  working directory, beside `mlflow.db`). Its settings (everything but the description and the trial count) are
  stored with it; a worker with other settings (say another `--budget`) is refused rather than mixed in. The worker
  that creates the study records them and the study's MLflow run; one joining that moment waits for both (up to
  CREATOR_WAIT_S) rather than recording its own beside them.
- Trial count: `n_trials` is the study's total over all workers and invocations. A trial counts whatever its end
  (complete, pruned, failed) and while it runs or waits; a trial failed because its worker died is replaced by its
  retry, which counts instead; a skipped duplicate (below) does not count. Workers check the count before starting
  a trial, so workers starting at the same instant can overshoot it by at most one trial each.
- Grids: trials claim the grid's points in one shuffled order (Optuna's GridSampler, one seed for all workers); a
  worker starts a trial only while some point is neither done nor taken, and a trial whose point an earlier trial
  already holds (two workers racing for the last point) is skipped before it trains. So no point is trained twice,
  and the study stops when the grid is done. `--n-trials` below the grid size runs part of it; running again
  without it finishes the grid.
- Killed workers: every running trial sends a heartbeat. The next worker to start a trial fails trials silent for
  longer than the grace period, ends their MLflow runs FAILED, and queues each again (at most MAX_RETRIES times);
  the retry reopens the same MLflow runs and continues the jobs from their checkpoints. Ctrl-C does the same at
  once: running jobs end KILLED and the trial is queued, so the next `study run` continues it.
- Pruning: the jobs of a trial run in one fixed (game, seed) order, and each evaluation during training is reported
  at step k * (training.total_env_steps + training.final_epochs) + env_steps + f, k being the job's place in that
  order and f how many of the final epochs (which collect nothing) have run, so their evaluations stay apart.
  Trials compared at one step have therefore trained the same game and seed for the same number of steps; the
  value is that job's evaluation return (negated when the study minimizes, since a higher return is always better).
- SQLite: every transaction takes the write lock when it begins and waits up to SQLITE_TIMEOUT_S for it, so several
  local workers neither fail with "database is locked" nor claim one queued trial twice. Many machines: PostgreSQL.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import socket
import threading
import time
import tomllib
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
import torch
from matplotlib.figure import Figure
from mlflow.entities import RunTag
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages._rdb import models
from optuna.trial import FrozenTrial, TrialState

from ablate.config import FIELD_TYPES, Config, apply_overrides, resolve_config
from ablate.errors import UsageError
from ablate.games import GAMES, resolve_game, resolve_games
from ablate.jedi.trainer import EpochReport, resolve_device
from ablate.locks import schema_lock
from ablate.runner import (
    Job,
    JobOutcome,
    JobStopped,
    Progress,
    close_parent,
    device_pool,
    open_parent,
    run_children,
)
from ablate.scoring import AGGREGATES, ScoreReport, score_runs
from ablate.shipped import shipped_dirs
from ablate.stopping import child_stops_on_sigterm, stop_signals_ignored, terminate
from ablate.tracking import EVAL_RETURN, TAG_KIND, Status, Tracker, free_port, retry_locked
from ablate.variants import ROOT_VARIANT, get_variant, load_variants, variant_overrides

# Heartbeats, stale-trial retries and metric names are experimental in Optuna; they are what makes a killed worker
# recoverable here, so the warnings would only alarm.
warnings.filterwarnings("ignore", category=ExperimentalWarning)

EXPERIMENT = "ablate"  # `ablate run`'s default experiment: trials sit beside the variants' runs
STORAGE_FILE = "optuna.db"
OUT_ROOT = Path("runs") / "studies"  # OUT_ROOT/STUDY/TRIAL_RUN_ID/VARIANT/GAME/seedS-HASH/RUN_ID, and worker logs
MEAN_RETURN = "mean_return"
HNS_PREFIX = "hns:"

HEARTBEAT_S = 30
GRACE_S = 180  # a running trial silent this long is taken for dead
MAX_RETRIES = 3  # a trial whose worker keeps dying (out of memory, say) then stays failed
SQLITE_TIMEOUT_S = 120
_SCHEMA_RACE_ATTEMPTS = 3  # opening a fresh database while other processes create its tables
POLL_S = 1.0
STOP_TIMEOUT_S = 60.0  # how long stopped workers get to record their trials before they are killed
CREATOR_WAIT_S = 60.0  # how long a joining worker waits for the study's creator to record its settings and run

# Trial and study user attributes (what the Optuna dashboard shows) and MLflow names: each system points to the other.
ATTR_RUN_ID = "mlflow_run_id"
ATTR_ERROR = "error"
ATTR_SKIPPED = "skipped"
ATTR_PROGRESS = "progress"
ATTR_SETTINGS = "ablate.settings"
ATTR_N_TRIALS = "ablate.n_trials"
TAG_STUDY = "optuna.study"
TAG_TRIAL = "optuna.trial_number"
TAG_STATE = "optuna.state"
TAG_STORAGE = "optuna.storage"
TAG_OVERRIDE = "ablate.override."
OBJECTIVE_METRIC = "objective"
DEFINITION_JSON = "study.json"
PLOT_PNG = "objective_vs_params.png"

# Each is called with a seed, which BaseSampler's own signature lacks.
_SAMPLERS: dict[str, Callable[..., optuna.samplers.BaseSampler]] = {
    "grid": optuna.samplers.GridSampler,
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "bruteforce": optuna.samplers.BruteForceSampler,
}
_PRUNERS: dict[str, type[optuna.pruners.BasePruner]] = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
}
_EXHAUSTIVE = ("grid", "bruteforce")
_FILE_KEYS = (
    "description",
    "variant",
    "games",
    "seeds",
    "budget",
    "objective",
    "direction",
    "sampler",
    "pruner",
    "n_trials",
    "space",
)


class TrialFailed(Exception):
    """A trial whose training failed or whose objective could not be computed: recorded FAILED, the study goes on."""


# -- the definition ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Categorical:
    """A swept config key that takes each value of a list."""

    key: str
    values: tuple[Any, ...]

    @property
    def points(self) -> tuple[Any, ...]:
        return self.values

    def suggest(self, trial: optuna.Trial) -> Any:
        return trial.suggest_categorical(self.key, list(self.values))

    def describe(self) -> str:
        return ", ".join(map(str, self.values))


@dataclass(frozen=True)
class Range:
    """A swept config key that takes an int or float between low and high."""

    key: str
    low: float
    high: float
    log: bool = False
    step: float | None = None
    integer: bool = False

    @property
    def points(self) -> tuple[int, ...] | None:
        """Every value of an int range; None for a float range, which has endlessly many."""
        if not self.integer:
            return None
        return tuple(range(int(self.low), int(self.high) + 1, int(self.step or 1)))

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.integer:
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def describe(self) -> str:
        kind = "int" if self.integer else "float"
        extras = [*(["log"] if self.log else []), *([f"step {self.step:g}"] if self.step else [])]
        return f"{kind} in [{self.low:g}, {self.high:g}]" + (f" ({', '.join(extras)})" if extras else "")


Axis = Categorical | Range

# An axis as a study's settings record it: with every field of both kinds, as when one class held them all, so the
# settings of studies created then still match.
_AXIS_FIELDS = {"key": None, "values": None, "low": None, "high": None, "log": False, "step": None, "integer": False}


@dataclass(frozen=True)
class StudyDefinition:
    name: str
    description: str
    path: Path
    variant: str
    overrides: dict[str, Any]  # the base variant's, merged along its `extends` chain
    games: tuple[str, ...]
    seeds: tuple[int, ...]
    budget: str
    objective: str
    direction: str
    sampler: str
    sampler_seed: int
    sampler_options: dict[str, Any]
    pruner: str
    pruner_options: dict[str, Any]
    space: tuple[Axis, ...]
    n_trials: int

    @property
    def exhaustive(self) -> bool:
        return self.sampler in _EXHAUSTIVE

    @property
    def grid_size(self) -> int | None:
        return _grid_size(self.space)

    def grid(self) -> dict[str, tuple[Any, ...]]:
        """Every axis's values, for a finite search space (the exhaustive samplers refuse float ranges)."""
        grid = {}
        for axis in self.space:
            if axis.points is None:
                raise ValueError(f"study '{self.name}': '{axis.key}' is a float range, which has no grid")
            grid[axis.key] = axis.points
        return grid

    def points(self) -> list[dict[str, Any]]:
        """Every point of a finite search space."""
        grid = self.grid()
        return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]

    def settings(self) -> dict[str, Any]:
        """What every worker of one Optuna study must agree on: all but the description and the trial count."""
        return {
            "variant": self.variant,
            "base_config_hash": resolve_config(self.budget, self.overrides).hash(),
            "games": list(self.games),
            "seeds": list(self.seeds),
            "budget": self.budget,
            "objective": self.objective,
            "direction": self.direction,
            "sampler": self.sampler,
            "sampler_seed": self.sampler_seed,
            "sampler_options": self.sampler_options,
            "pruner": self.pruner,
            "pruner_options": self.pruner_options,
            "space": [_AXIS_FIELDS | asdict(axis) for axis in self.space],
        }


def _grid_size(space: Sequence[Axis]) -> int | None:
    """The number of points of a search space, or None when a float range makes it infinite."""
    size = 1
    for axis in space:
        if axis.points is None:
            return None
        size *= len(axis.points)
    return size


def _study_files() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for directory in shipped_dirs("studies"):
        for path in sorted(directory.glob("*.toml")):
            files.setdefault(path.stem, path)
    return files


def list_studies() -> list[StudyDefinition]:
    """Every study found, each validated."""
    return [load_study(name) for name in sorted(_study_files())]


def load_study(
    name: str,
    *,
    budget: str | None = None,
    games: str | None = None,
    objective: str | None = None,
    n_trials: int | None = None,
) -> StudyDefinition:
    """A study's definition, validated, with `study run`'s overrides applied; nothing runs before this passes."""
    files = _study_files()
    if name not in files:
        raise UsageError(
            f"unknown study '{name}'{_suggest(name, files)}; "
            f"available: {', '.join(sorted(files)) or 'none (add a TOML file to studies/)'}"
        )
    path = files[name]
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"study '{name}' ({path}): malformed TOML: {err}") from None
    overridden = {"budget": budget, "games": games, "objective": objective}
    if objective is not None:
        data.pop("direction", None)  # the file's direction was chosen for the file's objective
    data |= {key: value for key, value in overridden.items() if value is not None}
    try:
        definition = _parse(name, path, data)
        if n_trials is not None:
            definition = replace(definition, n_trials=_requested_trials(definition, n_trials))
    except UsageError as err:
        raise UsageError(f"study '{name}' ({path}): {err}") from None
    return definition


def _parse(name: str, path: Path, data: dict[str, Any]) -> StudyDefinition:
    for key in data:
        if key not in _FILE_KEYS:
            raise UsageError(f"unknown field '{key}'{_suggest(key, _FILE_KEYS)}; a study has {', '.join(_FILE_KEYS)}")
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        raise UsageError("'description' must be a non-empty string saying what is swept and why")
    registry = load_variants()
    variant = get_variant(_text(data, "variant", ROOT_VARIANT), registry).name
    games = tuple(resolve_games(_text(data, "games")))
    seeds = _seeds(data.get("seeds", [0]))
    budget = _text(data, "budget", "atari100k")
    objective = parse_objective(_text(data, "objective"), games)
    direction = _text(data, "direction", "minimize" if objective == "optimality_gap" else "maximize")
    if direction not in ("maximize", "minimize"):
        raise UsageError(f"direction must be maximize or minimize, got '{direction}'")
    sampler, sampler_options = _named(data.get("sampler", "tpe"), _SAMPLERS, "sampler")
    sampler_seed = sampler_options.pop("seed", 0)
    if not isinstance(sampler_seed, int) or isinstance(sampler_seed, bool):
        raise UsageError(f"the sampler's seed must be an integer, got {sampler_seed!r}")
    pruner, pruner_options = _named(data.get("pruner", "none"), _PRUNERS, "pruner")
    space = _space(data.get("space"), sampler)
    n_trials = _file_trials(sampler, _grid_size(space) if sampler in _EXHAUSTIVE else None, data.get("n_trials"))
    definition = StudyDefinition(
        name,
        description.strip(),
        path,
        variant,
        variant_overrides(variant, registry),
        games,
        seeds,
        budget,
        objective,
        direction,
        sampler,
        sampler_seed,
        sampler_options,
        pruner,
        pruner_options,
        space,
        n_trials,
    )
    _check_configs(definition)
    _build(lambda: _make_sampler(definition, sampler_seed), "sampler")
    _build(lambda: _make_pruner(definition), "pruner")
    return definition


def _text(data: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"'{key}' must be a non-empty string" + ("" if default is not None else " (required)"))
    return value.strip()


def _suggest(name: str, choices: Any) -> str:
    match = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _seeds(value: Any) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or not value
        or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in value)
    ):
        raise UsageError(f"'seeds' must be a non-empty list of non-negative integers such as [0, 1, 2], got {value!r}")
    return tuple(dict.fromkeys(value))


def parse_objective(objective: str, games: Sequence[str]) -> str:
    """The objective's canonical name, refused when it cannot be computed on `games`."""
    if objective.startswith(HNS_PREFIX):
        objective = HNS_PREFIX + resolve_game(objective.removeprefix(HNS_PREFIX))
    elif objective not in (MEAN_RETURN, *AGGREGATES):
        raise UsageError(
            f"unknown objective '{objective}'{_suggest(objective, (MEAN_RETURN, *AGGREGATES))}; "
            f"choose {MEAN_RETURN}, hns:<game> or one of {', '.join(AGGREGATES)}"
        )
    # Scoring alone decides which figures exist for a list of games; human-level scores (every HNS 1) reveal them all.
    probe = score_runs({game: [GAMES[game].human or 0.0] for game in games}, reps=1)
    if objective_value(probe, objective) is None:
        possible = [MEAN_RETURN, *probe.aggregates, *(["hns:<game>"] if probe.aggregates else [])]
        shown = ",".join(games) if len(games) <= 4 else f"{len(games)} games"
        raise UsageError(f"objective '{objective}' cannot be computed on {shown}; there: {', '.join(possible)}")
    return objective


def objective_value(report: ScoreReport, objective: str) -> float | None:
    """The objective read off a trial's scores, or None when those games don't define it."""
    if objective == MEAN_RETURN:
        return report.mean_return
    if objective.startswith(HNS_PREFIX):
        score = report.per_game.get(objective.removeprefix(HNS_PREFIX))
        return score.hns if score else None
    interval = report.aggregates.get(objective)
    return interval.value if interval else None


def _named(value: Any, classes: Mapping[str, object], what: str) -> tuple[str, dict[str, Any]]:
    """`"median"` or `{ name = "median", option = ... }` as (name, options)."""
    if isinstance(value, str):
        name, options = value, {}
    elif isinstance(value, dict) and isinstance(value.get("name"), str):
        options = dict(value)
        name = options.pop("name")
    else:
        example = f'{what} = {{ name = "{next(iter(classes))}" }}'
        raise UsageError(f"'{what}' must be a name or a table with one, e.g. {example}")
    if name not in classes:
        raise UsageError(f"unknown {what} '{name}'{_suggest(name, classes)}; choose {', '.join(classes)}")
    return name, options


def _space(value: Any, sampler: str) -> tuple[Axis, ...]:
    if not isinstance(value, dict) or not value:
        raise UsageError(
            'the search space is empty; add a [space] table of dotted config keys, e.g. "sampler.num_steps" = [1, 3, 5]'
        )
    return tuple(_axis(key, spec, sampler) for key, spec in value.items())


def _axis(key: str, spec: Any, sampler: str) -> Axis:
    if key not in FIELD_TYPES:
        apply_overrides(Config(), {key: None})  # raises the config's own message, with the closest key
    if isinstance(spec, list):
        if not spec:
            raise UsageError(f"space '{key}': the list of values is empty")
        if any(not isinstance(v, str | int | float) for v in spec):
            raise UsageError(
                f"space '{key}': values must be strings, numbers or booleans; "
                'write shapes as strings such as "16x8x8"'
            )
        if len(set(map(repr, spec))) < len(spec):
            raise UsageError(f"space '{key}': a value is listed twice")
        return Categorical(key, tuple(spec))
    if not isinstance(spec, dict):
        raise UsageError(f"space '{key}': give a list of values or a range {{ low = ..., high = ... }}")
    unknown = set(spec) - {"low", "high", "log", "step"}
    if unknown:
        raise UsageError(f"space '{key}': unknown range field '{sorted(unknown)[0]}'; a range has low, high, log, step")
    hint = FIELD_TYPES[key]
    if hint not in (int, float):
        raise UsageError(f"space '{key}' is not numeric; give a list of its values instead of a range")
    low, high, log, step = spec.get("low"), spec.get("high"), spec.get("log", False), spec.get("step")
    numbers = (int,) if hint is int else (int, float)
    if not (isinstance(low, numbers) and isinstance(high, numbers)) or isinstance(low, bool) or isinstance(high, bool):
        raise UsageError(f"space '{key}': low and high must both be {'integers' if hint is int else 'numbers'}")
    if not low < high:
        raise UsageError(f"space '{key}': low must be below high, got {low} and {high}")
    if not isinstance(log, bool):
        raise UsageError(f"space '{key}': log must be true or false")
    if log and low <= 0:
        raise UsageError(f"space '{key}': a log range needs a positive low, got {low}")
    if step is not None and (log or not isinstance(step, numbers) or isinstance(step, bool) or step <= 0):
        raise UsageError(f"space '{key}': step must be a positive number, and not combined with log")
    if sampler in _EXHAUSTIVE and hint is float:
        raise UsageError(f"space '{key}': sampler '{sampler}' needs finitely many points; list the values to try")
    return Range(key, low, high, log=log, step=step, integer=hint is int)


def _file_trials(sampler: str, size: int | None, n_trials: Any) -> int:
    """`size`: the grid's, for a sampler that runs every point once (they refuse float ranges, so there is one)."""
    if n_trials is None:
        if size is not None:
            return size
        raise UsageError(f"'n_trials' is required with sampler '{sampler}'")
    if not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1:
        raise UsageError(f"'n_trials' must be a positive integer, got {n_trials!r}")
    if size is not None and n_trials < size:
        raise UsageError(
            f"the grid of {size} points is too large for n_trials = {n_trials}: it would never be "
            "finished; leave n_trials out, or use sampler 'random' for a sample of it"
        )
    if size is not None and n_trials > size:
        raise UsageError(f"n_trials = {n_trials} exceeds the grid's {size} points, each run once; leave n_trials out")
    return n_trials


def _requested_trials(definition: StudyDefinition, n_trials: int) -> int:
    """`--n-trials`: for a grid, at most its size (fewer runs part of it; running again finishes it)."""
    if n_trials < 1:
        raise UsageError(f"--n-trials must be at least 1, got {n_trials}")
    size = definition.grid_size
    if definition.exhaustive and size is not None and n_trials > size:
        raise UsageError(f"--n-trials {n_trials} exceeds the grid's {size} points, each run once")
    return n_trials


def _check_configs(definition: StudyDefinition) -> None:
    """Every grid point, or every value and range end alone, must give a valid config at the study's budget."""
    resolve_config(definition.budget, definition.overrides)
    if definition.exhaustive:
        points = definition.points()
    else:
        points = [
            {axis.key: value}
            for axis in definition.space
            for value in (axis.values if isinstance(axis, Categorical) else (axis.low, axis.high))
        ]
    for point in points:
        try:
            resolve_config(definition.budget, {**definition.overrides, **point})
        except UsageError as err:
            shown = ", ".join(f"{key}={value}" for key, value in point.items())
            raise UsageError(f"space point {shown} with variant '{definition.variant}': {err}") from None


def _make_sampler(definition: StudyDefinition, seed: int) -> optuna.samplers.BaseSampler:
    if definition.sampler == "grid":
        space = {key: list(values) for key, values in definition.grid().items()}
        return optuna.samplers.GridSampler(space, seed=seed, **definition.sampler_options)
    return _SAMPLERS[definition.sampler](seed=seed, **definition.sampler_options)


def _make_pruner(definition: StudyDefinition) -> optuna.pruners.BasePruner:
    return _PRUNERS[definition.pruner](**definition.pruner_options)


def _build(make: Callable[[], Any], what: str) -> None:
    try:
        make()
    except (TypeError, ValueError) as err:  # an unknown option or a bad value, in Optuna's own words
        raise UsageError(f"{what} options: {err}") from None


# -- the storage ---------------------------------------------------------------------------------------------------


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
        {"heartbeat_interval": HEARTBEAT_S, "grace_period": GRACE_S, "heartbeat_stale_trial_callback": on_stale}
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
            f"no study '{name}' in {shown_storage(url)}{_suggest(name, names)}; "
            f"it holds: {', '.join(names) or 'no study yet'}"
        ) from None


# -- one trial -----------------------------------------------------------------------------------------------------


def _counted(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The trials that count toward n_trials: all but skipped duplicates and those replaced by a retry."""
    replaced = {number for t in trials for number in RetryHeartbeatStaleTrialCallback.retry_history(t)}
    return [t for t in trials if t.number not in replaced and ATTR_SKIPPED not in t.user_attrs]


def _point(params: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(params.items()))


def silences(study: optuna.Study) -> dict[int, float]:
    """Seconds since each running trial's last heartbeat, by trial number (trials yet to beat are left out).

    Optuna keeps heartbeats in a table of its own and has no public reader for it; this reads that table.
    """
    storage = getattr(study._storage, "_backend", study._storage)  # optuna.load_study wraps it in a cache
    if not isinstance(storage, RDBStorage):
        return {}
    with storage.scoped_session() as session:
        now = session.execute(sqlalchemy.func.now()).scalar_one().replace(tzinfo=None)
        rows = (
            session.query(models.TrialModel.number, models.TrialHeartbeatModel.heartbeat)
            .join(models.TrialHeartbeatModel, models.TrialHeartbeatModel.trial_id == models.TrialModel.trial_id)
            .filter(models.TrialModel.study_id == study._study_id, models.TrialModel.state == TrialState.RUNNING)
            .all()
        )
    return {number: (now - beat).total_seconds() for number, beat in rows}


def _silent_trials(study: optuna.Study) -> dict[int, float]:
    """Running trials that missed their heartbeats: their worker is likely dead, and Optuna retries them once
    they have been silent for the grace period."""
    return {number: silent for number, silent in retry_locked(silences, study).items() if silent > 2 * HEARTBEAT_S}


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


def _end_runs(tracker: Tracker, run_id: str, status: Status, state: TrialState, error: str | None = None) -> None:
    """End a trial's run and its still-running jobs, with the Optuna state as a tag."""
    for child in tracker.find_runs({TAG_KIND: "job"}, parent_run_id=run_id):
        if child.info.status == "RUNNING":
            tracker.end_run(child.info.run_id, status, error)
    retry_locked(tracker.client.set_tag, run_id, TAG_STATE, state.name)
    tracker.end_run(run_id, status, error)


def _frozen(trial: optuna.Trial) -> FrozenTrial:
    return next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)


def pruning_step(config: Config, place: int, report: EpochReport) -> int:
    """The step at which the job in `place` of a trial's order reports an evaluation (see the module's docstring)."""
    tr = config.training
    final_epochs_run = max(0, report.epoch - (report.total_epochs - tr.final_epochs))
    return place * (tr.total_env_steps + tr.final_epochs) + report.env_steps + final_epochs_run


@dataclass(frozen=True)
class _Objective:
    """A trial: sample the overrides, train the (game, seed) jobs under one MLflow parent run, score them."""

    definition: StudyDefinition
    tracker: Tracker
    device: str
    out_root: Path
    retry: RetryHeartbeatStaleTrialCallback

    def __call__(self, trial: optuna.Trial) -> float:
        d = self.definition
        params = {axis.key: axis.suggest(trial) for axis in d.space}
        holder = self._holder(trial, params)
        if holder is not None:
            trial.set_user_attr(ATTR_SKIPPED, f"trial {holder} holds this point")
            raise optuna.TrialPruned(f"trial {holder} holds this point")
        overrides = {**d.overrides, **params}
        try:
            config = resolve_config(d.budget, overrides)
        except UsageError as err:  # a sampled combination the trainer refuses: nothing to train, nothing to record
            trial.set_user_attr(ATTR_ERROR, str(err))
            raise TrialFailed(str(err)) from None
        run_id, resumed = self._open_run(trial, config, params)
        try:
            outcomes = run_children(
                self.tracker,
                run_id,
                variant=d.variant,
                overrides=overrides,
                games=d.games,
                seeds=d.seeds,
                budget=d.budget,
                out_root=self.out_root / run_id,
                name_prefix=f"{d.name}/",
                resume=resumed,
                device=self.device,
                on_epoch=partial(self._epoch, trial, config),
                on_progress=partial(self._progress, trial),
            )
            return self._score(trial, run_id, list(outcomes.values()))
        except TrialFailed:
            raise  # recorded by _score
        except JobStopped as stop:
            _end_runs(self.tracker, run_id, "KILLED", TrialState.PRUNED)
            raise optuna.TrialPruned(str(stop)) from None
        except KeyboardInterrupt:
            _end_runs(self.tracker, run_id, "KILLED", TrialState.FAIL)
            self.retry(trial.study, _frozen(trial))  # queued first, so the retry does not inherit the error below
            trial.set_user_attr(ATTR_ERROR, "interrupted")
            raise
        except Exception as err:
            error = f"{type(err).__name__}: {err}"
            trial.set_user_attr(ATTR_ERROR, error)
            _end_runs(self.tracker, run_id, "FAILED", TrialState.FAIL, error)
            raise

    def _holder(self, trial: optuna.Trial, params: Mapping[str, Any]) -> int | None:
        """For exhaustive samplers, the earlier trial that already holds this point, if any."""
        if not self.definition.exhaustive:
            return None
        earlier = [t for t in _counted(trial.study.get_trials(deepcopy=False)) if t.number < trial.number]
        return next((t.number for t in earlier if _point(t.params) == _point(params)), None)

    def _open_run(self, trial: optuna.Trial, config: Config, params: Mapping[str, Any]) -> tuple[str, bool]:
        """The trial's MLflow parent run: a retry continues its killed predecessor's run, else a new one."""
        d, name = self.definition, f"{self.definition.name}/trial{trial.number}"
        previous = trial.user_attrs.get(ATTR_RUN_ID)
        if previous:
            self.tracker.reopen(retry_locked(self.tracker.client.get_run, previous))
            retry_locked(self.tracker.client.update_run, previous, name=name)
            retry_locked(self.tracker.client.set_tag, previous, TAG_TRIAL, str(trial.number))
            return previous, True
        tags = {
            TAG_STUDY: d.name,
            TAG_TRIAL: str(trial.number),
            **{TAG_OVERRIDE + key: str(value) for key, value in params.items()},
        }
        run_id = open_parent(
            self.tracker, d.variant, config, d.games, d.seeds, d.budget, kind="trial", name=name, extra_tags=tags
        )
        trial.set_user_attr(ATTR_RUN_ID, run_id)
        return run_id, False

    def _progress(self, trial: optuna.Trial, progress: Progress) -> None:
        """Note the running job and its epoch on the trial, where `study status` reads it from any machine."""
        for line in progress.running.values():
            job = f"job {progress.ended_jobs + 1}/{progress.total_jobs} {line.name}"
            note = f"{job}: epoch {line.epoch}/{line.total_epochs}"
            if trial.user_attrs.get(ATTR_PROGRESS) != note:  # work inside an epoch is reported twice a second
                trial.set_user_attr(ATTR_PROGRESS, note)

    def _epoch(self, trial: optuna.Trial, config: Config, job: Job, report: EpochReport) -> None:
        """Feed each evaluation to the pruner (see the module's docstring)."""
        d = self.definition
        if EVAL_RETURN not in report.metrics:
            return
        step = pruning_step(config, d.games.index(job.game) * len(d.seeds) + d.seeds.index(job.seed), report)
        sign = 1.0 if d.direction == "maximize" else -1.0
        trial.report(sign * report.metrics[EVAL_RETURN], step)
        if trial.should_prune():
            raise JobStopped(f"pruned at step {step} ({job.name}, evaluation return {report.metrics[EVAL_RETURN]:g})")

    def _score(self, trial: optuna.Trial, run_id: str, outcomes: list[JobOutcome]) -> float:
        d = self.definition
        _, report = close_parent(self.tracker, run_id, outcomes, jobs=len(d.games) * len(d.seeds))
        failed = [outcome for outcome in outcomes if outcome.status == "FAILED"]
        value = objective_value(report, d.objective) if report is not None and not failed else None
        if failed or value is None or not math.isfinite(value):
            error = (
                "; ".join(f"{o.job.name}: {o.error}" for o in failed)
                if failed
                else f"objective {d.objective} is {value} on these results"
            )
            trial.set_user_attr(ATTR_ERROR, error)
            _end_runs(self.tracker, run_id, "FAILED", TrialState.FAIL, error)
            raise TrialFailed(error)
        self.tracker.log_metrics(run_id, {OBJECTIVE_METRIC: value}, step=0)
        retry_locked(self.tracker.client.set_tag, run_id, TAG_STATE, TrialState.COMPLETE.name)
        return value


# -- workers -------------------------------------------------------------------------------------------------------


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


# -- status --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: str  # COMPLETE, PRUNED, FAIL, RUNNING, WAITING, or SKIPPED for a duplicate grid point
    params: dict[str, Any]
    value: float | None
    run_id: str | None
    duration_s: float | None
    note: str  # the failure, where it was pruned, a running trial's progress, a retry


@dataclass(frozen=True)
class StudyStatus:
    name: str
    storage: str
    objective: str
    direction: str
    n_trials: int | None  # the target of the latest `study run`
    done: int  # finished trials that count toward it
    trials: list[TrialRow]
    best: TrialRow | None


def _snapshot(study: optuna.Study, url: str) -> StudyStatus:
    trials = study.get_trials(deepcopy=False)
    retried_as = {
        RetryHeartbeatStaleTrialCallback.retry_history(t)[-1]: t.number
        for t in trials
        if RetryHeartbeatStaleTrialCallback.retry_history(t)
    }
    silent = silences(study)
    rows = {t.number: _row(t, retried_as.get(t.number), silent.get(t.number)) for t in trials}
    settings = json.loads(study.user_attrs.get(ATTR_SETTINGS, "{}"))
    done = sum(t.state.is_finished() for t in _counted(trials))
    best = rows[study.best_trial.number] if any(t.state == TrialState.COMPLETE for t in trials) else None
    return StudyStatus(
        study.study_name,
        shown_storage(url),
        settings.get("objective", "?"),
        study.direction.name.lower(),
        study.user_attrs.get(ATTR_N_TRIALS),
        done,
        list(rows.values()),
        best,
    )


def _row(trial: FrozenTrial, retried_as: int | None, silent: float | None) -> TrialRow:
    attrs = trial.user_attrs
    state = "SKIPPED" if ATTR_SKIPPED in attrs else trial.state.name
    end = trial.datetime_complete or (datetime.now() if trial.state == TrialState.RUNNING else None)
    duration = (end - trial.datetime_start).total_seconds() if end and trial.datetime_start else None
    if retried_as is not None:
        note = f"retried as trial {retried_as}" + (
            f" ({attrs[ATTR_ERROR]})" if ATTR_ERROR in attrs else " (its worker stopped)"
        )
    elif state == "SKIPPED":
        note = attrs[ATTR_SKIPPED]
    elif trial.state == TrialState.FAIL:
        note = attrs.get(ATTR_ERROR, "its worker stopped")
    elif trial.state == TrialState.PRUNED and trial.intermediate_values:
        step = max(trial.intermediate_values)
        note = f"pruned at step {step:,} (value {trial.intermediate_values[step]:.3g})"
    elif trial.state == TrialState.RUNNING:
        note = attrs.get(ATTR_PROGRESS, "starting")
        if silent is not None and silent > 2 * HEARTBEAT_S:
            note += f"; silent for {silent:.0f} s (retried after {GRACE_S} s)"
    elif trial.state == TrialState.WAITING and RetryHeartbeatStaleTrialCallback.retry_history(trial):
        note = f"queued to continue trial {RetryHeartbeatStaleTrialCallback.retry_history(trial)[-1]}"
    else:
        note = ""
    return TrialRow(trial.number, state, dict(trial.params), trial.value, attrs.get(ATTR_RUN_ID), duration, note)


def study_status(name: str, storage: str | None = None) -> StudyStatus:
    """`ablate study status`: the trials of a study as its storage holds them, and the best one."""
    url = resolve_storage(storage)
    study, _ = _load(name, url)
    return _snapshot(study, url)


@contextmanager
def _watching(study: optuna.Study, url: str, on_progress: Callable[[StudyStatus], None] | None) -> Iterator[None]:
    """Report the study's state every POLL_S seconds from a thread while the body runs."""
    if on_progress is None:
        yield
        return
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(POLL_S):
            on_progress(retry_locked(_snapshot, study, url))

    thread = threading.Thread(target=poll, name="study-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# -- the study's MLflow run ----------------------------------------------------------------------------------------


def _open_study_run(tracker: Tracker, study: optuna.Study, definition: StudyDefinition, url: str) -> str:
    """The study's own run (found again when the study is joined), holding its definition; RUNNING while it runs."""
    tags = {TAG_KIND: "study", TAG_STUDY: definition.name, TAG_STORAGE: shown_storage(url)}
    previous = tracker.find_runs(tags)
    if previous:
        tracker.reopen(previous[0])
        run_id = previous[0].info.run_id
    else:
        run_id = tracker.start_run(definition.name, tags)
    document = {
        "name": definition.name,
        "description": definition.description,
        "n_trials": definition.n_trials,
        "grid_size": definition.grid_size,
        **definition.settings(),
    }
    retry_locked(tracker.client.log_dict, run_id, document, DEFINITION_JSON)
    study.set_user_attr(ATTR_RUN_ID, run_id)
    return run_id


def _close_study_run(
    tracker: Tracker, run_id: str, study: optuna.Study, definition: StudyDefinition, status: Status
) -> None:
    """Record the best trial so far and the objective against each swept parameter, then end the run."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if complete:
        best = study.best_trial
        assert best.value is not None  # a complete trial of a single-objective study has its value
        tracker.log_metrics(
            run_id, {"best/objective": best.value, "trials/complete": len(complete)}, step=len(complete)
        )
        tags = {
            "optuna.best_trial": str(best.number),
            "optuna.best_run_id": best.user_attrs.get(ATTR_RUN_ID, ""),
            **{f"optuna.best.{key}": str(value) for key, value in best.params.items()},
        }
        retry_locked(tracker.client.log_batch, run_id, tags=[RunTag(key, value) for key, value in tags.items()])
        retry_locked(tracker.client.log_figure, run_id, objective_figure(definition, complete, best), PLOT_PNG)
    tracker.end_run(run_id, status)


def objective_figure(definition: StudyDefinition, trials: Sequence[FrozenTrial], best: FrozenTrial) -> Figure:
    """One panel per swept parameter: each complete trial's objective against the parameter's value."""
    figure = Figure(figsize=(4.5 * len(definition.space), 4))  # a bare Figure renders with Agg, no pyplot state
    for ax, axis in zip(figure.subplots(1, len(definition.space), squeeze=False)[0], definition.space, strict=True):
        ax.scatter([_position(axis, t.params[axis.key]) for t in trials], [t.value for t in trials], alpha=0.7)
        ax.scatter(
            [_position(axis, best.params[axis.key])], [best.value], color="black", marker="*", s=150, label="best"
        )
        if isinstance(axis, Categorical):
            ax.set_xticks(range(len(axis.values)), [str(v) for v in axis.values], rotation=30)
        elif axis.log:
            ax.set_xscale("log")
        ax.set(xlabel=axis.key, ylabel=f"{definition.objective} ({definition.direction})")
        ax.grid(alpha=0.3)
        ax.legend()
    figure.suptitle(f"study {definition.name}: {len(trials)} complete trials")
    figure.tight_layout()
    return figure


def _position(axis: Axis, value: Any) -> Any:
    """Where a value goes on the x axis: a list's values sit in their declared order, numbers at themselves."""
    return axis.values.index(value) if isinstance(axis, Categorical) else value


# -- `ablate study run` --------------------------------------------------------------------------------------------


@dataclass
class StudyRequest:
    """The options of `ablate study run`, unvalidated."""

    name: str
    n_trials: int | None = None
    workers: int = 1
    storage: str | None = None
    budget: str | None = None
    games: str | None = None
    objective: str | None = None
    tracking_uri: str | None = None
    device: str = "auto"


@dataclass
class StudySummary:
    definition: StudyDefinition
    status: StudyStatus
    study_run_id: str
    tracking_uri: str
    interrupted: bool = False
    crashed_workers: int = 0
    logs: list[Path] = field(default_factory=list)
    running_elsewhere: list[int] = field(default_factory=list)  # trials other workers still run (heartbeats live)

    @property
    def exit_code(self) -> int:
        """0 when every trial has ended (failed ones included); 130 after Ctrl-C; 1 when a worker crashed or
        trials are still running elsewhere, so that the study is not complete yet."""
        if self.interrupted:
            return 130
        return 1 if self.crashed_workers or self.running_elsewhere else 0


def run_study(request: StudyRequest, on_progress: Callable[[StudyStatus], None] | None = None) -> StudySummary:
    """`ablate study run`: create or join the study and run trials in K workers until none is left to start."""
    if request.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {request.workers}")
    definition = load_study(
        request.name, budget=request.budget, games=request.games, objective=request.objective, n_trials=request.n_trials
    )
    resolve_device(request.device)
    url = resolve_storage(request.storage)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the live view replaces Optuna's log lines
    storage = open_storage(url)
    tracker = Tracker.open(EXPERIMENT, request.tracking_uri)
    study = _create_or_join(definition, storage, url)
    run_id = _open_study_run(tracker, study, definition, url)
    out_root = OUT_ROOT.resolve() / definition.name
    setup = _WorkerSetup(definition, url, tracker, request.device, out_root)
    interrupted, crashed = False, 0
    status: Status = "FAILED"  # unless the workers end normally or are stopped
    running: list[int] = []
    try:
        with _watching(study, url, on_progress):
            crashed = _run_workers(setup, request.workers)
            crashed += _wait_for_running_trials(setup, request.workers, study)
        running = [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]
        status = "FAILED" if crashed else "KILLED" if running else "FINISHED"
    except KeyboardInterrupt:
        interrupted, status = True, "KILLED"
    finally:
        _close_study_run(tracker, run_id, study, definition, status)
    logs = sorted(out_root.glob("worker*.log")) if request.workers > 1 else []
    return StudySummary(definition, _snapshot(study, url), run_id, tracker.uri, interrupted, crashed, logs, running)


def _wait_for_running_trials(setup: _WorkerSetup, workers: int, study: optuna.Study) -> int:
    """Once no trial is left to start, settle the trials still RUNNING; returns how many workers crashed.

    A trial whose worker died (here or on another machine) holds its point until its heartbeat is older than the
    grace period; this waits that out and runs the retry. A trial whose heartbeats keep coming is alive in
    another worker: after two heartbeat intervals it is left to that worker.
    """
    crashed, watched_since = 0, time.monotonic()
    while study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        silent = _silent_trials(study)
        if not silent and time.monotonic() - watched_since > 2 * HEARTBEAT_S + 2 * POLL_S:
            break
        if silent and max(silent.values()) > GRACE_S:
            crashed += _run_workers(setup, workers)  # a worker fails the stale trial and runs its retry
            watched_since = time.monotonic()
        time.sleep(POLL_S)
    return crashed


def serve_dashboard(name: str, storage: str | None, port: int | None, on_ready: Callable[[str], None]) -> None:
    """Serve optuna-dashboard (the optional extra `dashboard`) on the study's storage at 127.0.0.1 until Ctrl-C."""
    try:
        from optuna_dashboard import run_server  # optional: only this command needs it
    except ImportError:
        raise UsageError(
            "optuna-dashboard is not installed; install it with: pip install 'ablate[dashboard]' "
            "(or pip install optuna-dashboard)"
        ) from None
    url = resolve_storage(storage)
    study, rdb = _load(name, url)
    port = port or free_port()
    on_ready(f"http://127.0.0.1:{port}/dashboard/studies/{rdb.get_study_id_from_name(study.study_name)}")
    with suppress(KeyboardInterrupt):  # Ctrl-C is how the dashboard is closed
        run_server(rdb, host="127.0.0.1", port=port)
