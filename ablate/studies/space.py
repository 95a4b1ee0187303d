"""A study's search space: each swept config key an axis, `Categorical` (a list of values) or `Range`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import optuna

from ablate.config import FIELD_TYPES, Config, apply_overrides
from ablate.errors import UsageError


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


def axis_settings(axis: Axis) -> dict[str, Any]:
    """An axis as a study's stored settings hold it."""
    return _AXIS_FIELDS | asdict(axis)


def grid_size(space: Sequence[Axis]) -> int | None:
    """The number of points of a search space, or None when a float range makes it infinite."""
    size = 1
    for axis in space:
        if axis.points is None:
            return None
        size *= len(axis.points)
    return size


def parse_space(value: Any, *, exhaustive: str | None) -> tuple[Axis, ...]:
    """A study file's [space] table as axes; `exhaustive` names a sampler that runs every point (no float ranges)."""
    if not isinstance(value, dict) or not value:
        raise UsageError(
            'the search space is empty; add a [space] table of dotted config keys, e.g. "sampler.num_steps" = [1, 3, 5]'
        )
    return tuple(_axis(key, spec, exhaustive) for key, spec in value.items())


def _axis(key: str, spec: Any, exhaustive: str | None) -> Axis:
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
    if exhaustive and hint is float:
        raise UsageError(f"space '{key}': sampler '{exhaustive}' needs finitely many points; list the values to try")
    return Range(key, low, high, log=log, step=step, integer=hint is int)
