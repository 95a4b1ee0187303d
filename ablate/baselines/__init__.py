"""Published per-seed Atari100k scores of the methods JEDI compares against (package data)."""

from __future__ import annotations

import functools
import json
from importlib import resources

from ablate.errors import UsageError

BASELINES = ("diamond", "iris", "dreamerv3", "storm", "twm")
BASELINE_LABELS = {"diamond": "DIAMOND", "iris": "IRIS", "dreamerv3": "DreamerV3", "storm": "STORM", "twm": "TWM"}
_FILES = {
    "diamond": "DIAMOND.json",
    "iris": "IRIS.json",
    "dreamerv3": "DreamerV3.json",
    "storm": "STORM.json",
    "twm": "TWM.json",
}


def load_baseline(name: str) -> dict[str, list[float]]:
    """Game -> per-seed scores of one baseline, named case-insensitively (e.g. 'DIAMOND' or 'diamond')."""
    key = name.strip().lower()
    if key not in _FILES:
        raise UsageError(f"unknown baseline '{name}'; choose one of: {', '.join(BASELINES)}")
    return {game: list(scores) for game, scores in _read(_FILES[key]).items()}


@functools.cache
def _read(filename: str) -> dict[str, tuple[float, ...]]:
    data = json.loads(resources.files(__name__).joinpath(filename).read_text())
    return {game: tuple(float(score) for score in scores) for game, scores in data.items()}
