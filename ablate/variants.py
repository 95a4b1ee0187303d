"""The variant registry: one TOML file per named variant of JEDI, resolved into a trainer config.

A variant file holds a one-sentence `description`, an optional `extends` (default `jedi`, the paper's
defaults, which itself extends nothing) and an `[overrides]` table of dotted config keys, e.g.
`"world_model.stop_gradient" = "both"`. Files are looked up in `--variants-dir` / `ABLATE_VARIANTS_DIR`
first, then in the repository's `variants/`; the first file found for a name wins.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ablate.config import Config, apply_overrides, diff, resolve_config
from ablate.errors import UsageError, did_you_mean
from ablate.shipped import shipped_dirs

ROOT_VARIANT = "jedi"
ENV_VAR = "ABLATE_VARIANTS_DIR"
# Names become run names, tag values and directories, so they stay plain.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_FILE_KEYS = ("description", "extends", "overrides")


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    extends: str | None
    overrides: dict[str, Any]  # this file's own overrides, not its ancestors'
    path: Path


def search_dirs(variants_dir: str | Path | None = None) -> list[Path]:
    """Where variant files are looked up, first match wins: the user's directory, then the shipped ones."""
    user_dir = variants_dir or os.environ.get(ENV_VAR)
    dirs: list[Path] = []
    if user_dir:
        if not Path(user_dir).is_dir():
            raise UsageError(f"variants directory '{user_dir}' does not exist")
        dirs.append(Path(user_dir))
    dirs += shipped_dirs("variants")
    unique: dict[Path, Path] = {}
    for d in dirs:
        unique.setdefault(d.resolve(), d)
    return list(unique.values())


def load_variants(variants_dir: str | Path | None = None) -> dict[str, Variant]:
    """Every variant found, validated: file structure, config keys and values, and the `extends` chains."""
    registry: dict[str, Variant] = {}
    for directory in search_dirs(variants_dir):
        for path in sorted(directory.glob("*.toml")):
            if path.stem not in registry:
                registry[path.stem] = _read(path)
    for variant in registry.values():
        _chain(variant.name, registry)
        try:
            apply_overrides(Config(), variant.overrides)
        except UsageError as err:
            raise UsageError(f"variant '{variant.name}' ({variant.path}): {err}") from None
    return registry


def _read(path: Path) -> Variant:
    name = path.stem
    if not _NAME.fullmatch(name):
        raise UsageError(f"{path}: a variant name may only hold letters, digits, '.', '_' and '-'")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{path}: malformed TOML: {err}") from None
    for key in data:
        if key not in _FILE_KEYS:
            raise UsageError(
                f"{path}: unknown field '{key}'{did_you_mean(key, _FILE_KEYS)}; a variant has {', '.join(_FILE_KEYS)}"
            )
    description, overrides = data.get("description"), data.get("overrides", {})
    extends = data.get("extends", None if name == ROOT_VARIANT else ROOT_VARIANT)
    if not isinstance(description, str) or not description.strip():
        raise UsageError(f"{path}: 'description' must be a non-empty string saying what changes and why")
    if not isinstance(overrides, dict):
        raise UsageError(
            f"{path}: 'overrides' must be a table of dotted config keys, e.g. \"world_model.clamp\" = false"
        )
    if extends is not None and not isinstance(extends, str):
        raise UsageError(f"{path}: 'extends' must be the name of another variant")
    return Variant(name, description.strip(), extends, overrides, path)


def _chain(name: str, registry: Mapping[str, Variant]) -> list[Variant]:
    """The variant and its ancestors, root first; refuses unknown parents and cycles."""
    chain: list[Variant] = []
    current: str | None = name
    while current is not None:
        if any(v.name == current for v in chain):
            cycle = " -> ".join([*(v.name for v in reversed(chain)), current])
            raise UsageError(f"variant '{name}': cycle in 'extends': {cycle}")
        if current not in registry:
            child = chain[0] if chain else None
            where = f"variant '{child.name}' ({child.path}) extends " if child else ""
            raise _unknown(current, registry, where)
        chain.insert(0, registry[current])
        current = registry[current].extends
    return chain


def _unknown(name: str, registry: Mapping[str, Variant], where: str = "") -> UsageError:
    return UsageError(
        f"{where}unknown variant '{name}'{did_you_mean(name, registry)}; available: {', '.join(sorted(registry))}"
    )


def get_variant(name: str, registry: Mapping[str, Variant]) -> Variant:
    if name not in registry:
        raise _unknown(name, registry)
    return registry[name]


def variant_overrides(name: str, registry: Mapping[str, Variant]) -> dict[str, Any]:
    """The variant's overrides merged along its `extends` chain, ancestors first so descendants win."""
    get_variant(name, registry)
    merged: dict[str, Any] = {}
    for variant in _chain(name, registry):
        merged.update(variant.overrides)
    return merged


def resolve_variant(
    name: str, registry: Mapping[str, Variant], budget: str = "atari100k", overrides: Mapping[str, Any] | None = None
) -> Config:
    """The trainer config of a variant: defaults, budget, the variant's chain, then `--set` overrides."""
    return resolve_config(budget, {**variant_overrides(name, registry), **(overrides or {})})


@dataclass(frozen=True)
class VariantDetails:
    variant: Variant
    overrides: dict[str, Any]  # merged along the `extends` chain
    config: Config
    changes: dict[str, tuple[Any, Any]]  # dotted key -> (jedi's value, this variant's), at the same budget


def describe_variant(name: str, budget: str = "atari100k", variants_dir: str | Path | None = None) -> VariantDetails:
    """What `ablate variants show` prints: the resolved config and where it differs from `jedi`."""
    registry = load_variants(variants_dir)
    config = resolve_variant(name, registry, budget)
    changes = diff(config, resolve_variant(ROOT_VARIANT, registry, budget))
    return VariantDetails(registry[name], variant_overrides(name, registry), config, changes)
