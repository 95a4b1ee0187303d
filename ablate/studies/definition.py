"""A study's definition: its file, parsed and validated (the search space in `space`, the objective in
`objective`), the sampler and pruner, and the settings every worker must agree on.

A study file:

    description = "One sentence: what is swept and which question of the paper it answers."
    variant = "jedi"              # the base variant (default jedi); sampled values go on top of its overrides
    games = "atari100k"           # a set expression, as `--games`
    seeds = [0]                   # default [0]
    budget = "atari100k"          # default atari100k
    objective = "sym_hns"         # an aggregate of ablate.scoring, "hns:<game>", or "mean_return" (the one for catch)
    direction = "maximize"        # default: minimize for optimality_gap, maximize otherwise
    search = "grid"               # Optuna's sampler: grid, tpe (default), random, bruteforce; or { name = "tpe" }
    pruner = "none"               # none (default), median, hyperband; or { name = "median", n_startup_trials = 3 }
    n_trials = 20                 # required for tpe and random; grid and bruteforce run every point once
    [space]                       # dotted config keys
    "world_model.latent_shape" = ["8x4x4", "16x8x8"]            # a list: categorical
    "training.lr" = { low = 1e-5, high = 1e-3, log = true }    # a range: int or float, by the key's type
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna

from ablate.config import resolve_config
from ablate.errors import UsageError, did_you_mean
from ablate.games import resolve_games
from ablate.shipped import shipped_dirs
from ablate.studies.objective import parse_objective
from ablate.studies.space import Axis, Categorical, axis_settings, grid_size, parse_space
from ablate.variants import ROOT_VARIANT, get_variant, load_variants, variant_overrides

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
    "search",
    "pruner",
    "n_trials",
    "space",
)


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
        return grid_size(self.space)

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
            "space": [axis_settings(axis) for axis in self.space],
        }


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
            f"unknown study '{name}'{did_you_mean(name, files)}; "
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
        if key == "sampler":  # the Euler sampler's config section is `sampler.*`: one word, one meaning
            raise UsageError("'sampler' is spelt 'search' in a study file: search = \"grid\" (Optuna's sampler)")
        if key not in _FILE_KEYS:
            raise UsageError(
                f"unknown field '{key}'{did_you_mean(key, _FILE_KEYS)}; a study has {', '.join(_FILE_KEYS)}"
            )
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
    sampler, sampler_options = _named(data.get("search", "tpe"), _SAMPLERS, "sampler")
    sampler_seed = sampler_options.pop("seed", 0)
    if not isinstance(sampler_seed, int) or isinstance(sampler_seed, bool):
        raise UsageError(f"the sampler's seed must be an integer, got {sampler_seed!r}")
    pruner, pruner_options = _named(data.get("pruner", "none"), _PRUNERS, "pruner")
    space = parse_space(data.get("space"), exhaustive=sampler if sampler in _EXHAUSTIVE else None)
    n_trials = _file_trials(sampler, grid_size(space) if sampler in _EXHAUSTIVE else None, data.get("n_trials"))
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


def _seeds(value: Any) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or not value
        or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in value)
    ):
        raise UsageError(f"'seeds' must be a non-empty list of non-negative integers such as [0, 1, 2], got {value!r}")
    return tuple(dict.fromkeys(value))


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
        raise UsageError(f"unknown {what} '{name}'{did_you_mean(name, classes)}; choose {', '.join(classes)}")
    return name, options


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
