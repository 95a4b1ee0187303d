"""Scores of runs: HNS, the aggregates over games, the JEDI asymmetry figures, and their bootstrap CIs.

Every consumer (trainer, MLflow runner, studies, `ablate score`) goes through `score_runs`, so a figure
means the same thing everywhere. Rules: JEDI.md section 2; the intervals follow rliable's stratified
bootstrap with percentile intervals.
"""

from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from ablate.baselines import BASELINES, load_baseline
from ablate.errors import UsageError
from ablate.games import AGENT_OPTIMAL, ATARI100K, GAMES, HUMAN_OPTIMAL, hns, resolve_game

AGGREGATES = (
    "mean",
    "median",
    "iqm",
    "optimality_gap",
    "human_optimal_mean",
    "agent_optimal_mean",
    "asymmetry_ratio",
    "sym_hns",
    "har_hns",
)
_BOOTSTRAP_CELLS = 2_000_000  # resampled scores held in memory at once (16 MB of float64)


@dataclass(frozen=True)
class Interval:
    value: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class GameScore:
    mean_return: float
    hns: float | None  # None for games without reference scores (catch)
    seeds: int


@dataclass
class ScoreReport:
    per_game: dict[str, GameScore]
    aggregates: dict[str, Interval]
    confidence: float = 0.95  # the level of every interval, for labels

    @property
    def mean_return(self) -> float:
        """Mean over games (catch included) of the per-game mean return."""
        return float(np.mean([score.mean_return for score in self.per_game.values()]))

    def to_dict(self) -> dict:
        """Plain JSON-ready form; an unbounded interval end (a ratio over a non-positive mean) becomes None."""
        return {
            "per_game": {
                game: {"mean_return": s.mean_return, "hns": s.hns, "seeds": s.seeds}
                for game, s in self.per_game.items()
            },
            "aggregates": {
                name: {"value": _finite(i.value), "ci_low": _finite(i.ci_low), "ci_high": _finite(i.ci_high)}
                for name, i in self.aggregates.items()
            },
        }


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _checked(scores: Mapping[str, object], origin: str) -> dict[str, list[float]]:
    """Canonical game name -> validated per-seed scores, in catalogue order; `origin` prefixes errors."""
    if not scores:
        raise UsageError(f"{origin}: no games; give at least one game with a list of per-seed scores")
    checked: dict[str, list[float]] = {}
    given_as: dict[str, str] = {}
    for key, values in scores.items():
        try:
            game = resolve_game(str(key))
        except UsageError as err:
            raise UsageError(f"{origin}: {err}") from None
        if game in checked:
            raise UsageError(f"{origin}: {game} appears twice (as '{given_as[game]}' and '{key}'); keep one")
        if not isinstance(values, list | tuple | np.ndarray):
            raise UsageError(
                f"{origin}: scores of {game} must be a list of per-seed returns, got {reprlib.repr(values)}"
            )
        if len(values) == 0:
            raise UsageError(f"{origin}: scores of {game} are an empty list; give at least one seed's return")
        numbers = []
        for value in values:
            # bool is an int subclass, but True as a return is certainly a mistake.
            if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
                raise UsageError(f"{origin}: score {reprlib.repr(value)} of {game} is not a number")
            try:
                number = float(value)
            except OverflowError:  # an int too large for a float
                number = math.inf
            if not math.isfinite(number):
                raise UsageError(f"{origin}: score {reprlib.repr(value)} of {game} is not finite; give finite returns")
            numbers.append(number)
        checked[game] = numbers
        given_as[game] = str(key)
    return {game: checked[game] for game in GAMES if game in checked}


def load_scores(source: str) -> dict[str, list[float]]:
    """Per-seed returns by game from a baseline name (see BASELINES) or a JSON file {game: [returns]}.

    A baseline name wins over a file of the same name; write './diamond' to mean the file.
    """
    if source.strip().lower() in BASELINES:
        return _checked(load_baseline(source), source.strip().lower())
    path = Path(source)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
        raise UsageError(
            f"cannot read scores file '{source}' ({reason}); give a readable JSON file "
            f"or a baseline ({', '.join(BASELINES)})"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(f"{source}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{source}: expected a JSON object mapping game names to lists of per-seed returns")
    return _checked(data, source)


def _aggregates(runs: np.ndarray, counts: np.ndarray, games: Sequence[str]) -> dict[str, np.ndarray]:
    """Every applicable aggregate for a batch of score sets, one per row.

    `runs` is (batch, total runs) HNS with each game's runs contiguous, `counts` the runs per game. The
    point estimate and each bootstrap replicate go through this one function so they cannot disagree.
    """
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    game_means = np.add.reduceat(runs, starts, axis=1) / counts  # (batch, games)
    out = {
        "mean": game_means.mean(axis=1),
        "median": np.median(game_means, axis=1),
        "iqm": stats.trim_mean(runs, 0.25, axis=1),  # over all (run, game) scores, as rliable does
        "optimality_gap": np.maximum(1.0 - runs, 0.0).mean(axis=1),  # gamma = 1
    }
    column = {game: i for i, game in enumerate(games)}
    # A half's figures exist only when the whole half is present; a partial half would mislead.
    halves = {"human_optimal_mean": HUMAN_OPTIMAL, "agent_optimal_mean": AGENT_OPTIMAL}
    for name, half in halves.items():
        if all(game in column for game in half):
            out[name] = game_means[:, [column[game] for game in half]].mean(axis=1)
    if "human_optimal_mean" in out and "agent_optimal_mean" in out:
        human, agent = out["human_optimal_mean"], out["agent_optimal_mean"]
        # A non-positive Human-Optimal mean leaves the ratio unbounded: +inf, never a sign flip.
        out["asymmetry_ratio"] = np.divide(agent, human, out=np.full_like(agent, np.inf), where=human > 0)
        out["sym_hns"] = np.sqrt(np.maximum(human, 0.0) * np.maximum(agent, 0.0))
    # Har-HNS (JEDI.md: "the inverse of the mean over games of 1/(HNS + 0.1)") over per-game mean HNS,
    # only on the full benchmark since harmonic means over different game lists are incomparable.
    # A game at or below -0.1 HNS sends its term to +inf and Har-HNS to 0, the limit from above.
    if all(game in column for game in ATARI100K):
        shifted = game_means[:, [column[game] for game in ATARI100K]] + 0.1
        inverse = np.divide(1.0, shifted, out=np.full_like(shifted, np.inf), where=shifted > 0)
        out["har_hns"] = 1.0 / inverse.mean(axis=1)
    return out


def _resamples(flat: np.ndarray, counts: np.ndarray, reps: int, seed: int) -> Iterator[np.ndarray]:
    """Stratified bootstrap: each game's runs resampled with replacement, within the game, in chunks."""
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    offsets, sizes = np.repeat(starts, counts), np.repeat(counts, counts)
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOTSTRAP_CELLS // flat.size)
    for done in range(0, reps, chunk):
        rows = min(chunk, reps - done)
        yield flat[offsets + rng.integers(0, sizes, size=(rows, flat.size))]


def _percentile(values: np.ndarray, q: float) -> float:
    """np.percentile's linear rule, but exact beside +inf entries (numpy returns nan there)."""
    ordered = np.sort(values)
    pos = q * (ordered.size - 1)
    lo, frac = int(math.floor(pos)), pos - math.floor(pos)
    if frac == 0.0:
        return float(ordered[lo])
    a, b = ordered[lo], ordered[lo + 1]
    return float(b) if math.isinf(b) else float(a + (b - a) * frac)


def score_runs(
    scores: Mapping[str, Sequence[float]], *, reps: int = 50_000, seed: int = 0, confidence: float = 0.95
) -> ScoreReport:
    """Per-game means and every applicable aggregate, with stratified-bootstrap percentile intervals.

    Games may have different numbers of seeds. Aggregates cover the Atari games present (catch excluded);
    the same `seed` always gives the same intervals.
    """
    if reps < 1:
        raise UsageError(f"reps must be at least 1, got {reps}")
    if not 0.0 < confidence < 1.0:
        raise UsageError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    checked = _checked(scores, "scores")
    per_game = {
        game: GameScore(
            mean_return=float(np.mean(values)),
            hns=hns(game, float(np.mean(values))) if GAMES[game].is_atari else None,
            seeds=len(values),
        )
        for game, values in checked.items()
    }
    atari = [game for game in checked if GAMES[game].is_atari]
    if not atari:
        return ScoreReport(per_game, {}, confidence)

    flat = np.array([hns(game, value) for game in atari for value in checked[game]])
    counts = np.array([len(checked[game]) for game in atari])
    points = _aggregates(flat[None, :], counts, atari)
    batches = [_aggregates(runs, counts, atari) for runs in _resamples(flat, counts, reps, seed)]
    lower, upper = (1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0
    aggregates = {}
    for name in AGGREGATES:
        if name not in points:
            continue
        if name == "asymmetry_ratio" and math.isinf(points[name][0]):
            continue  # a non-positive Human-Optimal mean: the ratio has no value to report
        replicates = np.concatenate([batch[name] for batch in batches])
        aggregates[name] = Interval(
            float(points[name][0]), _percentile(replicates, lower), _percentile(replicates, upper)
        )
    return ScoreReport(per_game, aggregates, confidence)
