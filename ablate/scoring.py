"""Scores of runs: HNS, the aggregates over games, the JEDI asymmetry figures, and their bootstrap CIs.

Every consumer (trainer, MLflow runner, studies, `ablate score`, `ablate report`) goes through this module,
so a figure means the same thing everywhere. Rules: JEDI.md section 2; the intervals follow rliable's
stratified bootstrap with percentile intervals.
"""

from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Callable, Iterator, Mapping, Sequence
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


def _resampled_indices(
    counts: np.ndarray, reps: int, seed: int | np.random.SeedSequence, cells_per_row: int
) -> Iterator[np.ndarray]:
    """Stratified bootstrap indices into runs laid out game after game: each row a replicate in which every
    game's runs are drawn with replacement from that game's own. Chunks keep `cells_per_row` (the memory one
    replicate takes in the statistic) times the rows under the memory bound."""
    total = int(counts.sum())
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    offsets, sizes = np.repeat(starts, counts), np.repeat(counts, counts)
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOTSTRAP_CELLS // max(1, cells_per_row))
    for done in range(0, reps, chunk):
        rows = min(chunk, reps - done)
        yield offsets + rng.integers(0, sizes, size=(rows, total))


def _resamples(flat: np.ndarray, counts: np.ndarray, reps: int, seed: int) -> Iterator[np.ndarray]:
    """Stratified bootstrap: each game's runs resampled with replacement, within the game, in chunks."""
    for indices in _resampled_indices(counts, reps, seed, flat.size):
        yield flat[indices]


def _percentile(values: np.ndarray, q: float) -> float:
    """np.percentile's linear rule, but exact beside +inf entries (numpy returns nan there)."""
    ordered = np.sort(values)
    pos = q * (ordered.size - 1)
    lo, frac = int(math.floor(pos)), pos - math.floor(pos)
    if frac == 0.0:
        return float(ordered[lo])
    a, b = ordered[lo], ordered[lo + 1]
    return float(b) if math.isinf(b) else float(a + (b - a) * frac)


def _check_bootstrap(reps: int, confidence: float) -> None:
    if reps < 1:
        raise UsageError(f"reps must be at least 1, got {reps}")
    if not 0.0 < confidence < 1.0:
        raise UsageError(f"confidence must lie strictly between 0 and 1, got {confidence}")


def _intervals(
    flat: np.ndarray,
    counts: np.ndarray,
    games: Sequence[str],
    names: Sequence[str],
    reps: int,
    seed: int,
    confidence: float,
) -> dict[str, Interval]:
    """The aggregates `names` (those that apply to `games`) of runs laid out game after game, each with its
    stratified-bootstrap percentile interval."""
    points = _aggregates(flat[None, :], counts, games)
    batches = [_aggregates(runs, counts, games) for runs in _resamples(flat, counts, reps, seed)]
    lower, upper = (1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0
    intervals = {}
    for name in names:
        if name not in points:
            continue
        if name == "asymmetry_ratio" and math.isinf(points[name][0]):
            continue  # a non-positive Human-Optimal mean: the ratio has no value to report
        replicates = np.concatenate([batch[name] for batch in batches])
        intervals[name] = Interval(
            float(points[name][0]), _percentile(replicates, lower), _percentile(replicates, upper)
        )
    return intervals


def score_runs(
    scores: Mapping[str, Sequence[float]], *, reps: int = 50_000, seed: int = 0, confidence: float = 0.95
) -> ScoreReport:
    """Per-game means and every applicable aggregate, with stratified-bootstrap percentile intervals.

    Games may have different numbers of seeds. Aggregates cover the Atari games present (catch excluded);
    the same `seed` always gives the same intervals.
    """
    _check_bootstrap(reps, confidence)
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
    return ScoreReport(per_game, _intervals(flat, counts, atari, AGGREGATES, reps, seed, confidence), confidence)


# -- comparisons and curves: the rest of rliable's toolkit, for any game list and any number of runs per game ------

RETURN_AGGREGATES = ("mean", "median", "iqm")


def return_aggregates(
    scores: Mapping[str, Sequence[float]], *, reps: int = 50_000, seed: int = 0, confidence: float = 0.95
) -> dict[str, Interval]:
    """Mean and median over games of the per-game mean return and the IQM over all (run, game) returns, with
    stratified-bootstrap percentile intervals: `score_runs`'s aggregates on raw returns, for games without human
    scores (catch). Over one game, `mean` is its mean return and the interval that of a mean over runs."""
    _check_bootstrap(reps, confidence)
    games, flat, counts = _laid_out(scores)
    return _intervals(flat, counts, games, RETURN_AGGREGATES, reps, seed, confidence)


def _laid_out(scores: Mapping[str, Sequence[float]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Games, their runs laid out game after game, and the runs per game."""
    checked = _checked(scores, "scores")
    flat = np.array([value for values in checked.values() for value in values])
    return list(checked), flat, np.array([len(values) for values in checked.values()])


def _improvement(x: np.ndarray, x_counts: np.ndarray, y: np.ndarray, y_counts: np.ndarray) -> np.ndarray:
    """Per row (a replicate): the mean over games of P(x > y) + P(x = y) / 2 over all pairs of the game's runs."""
    x_ends, y_ends = np.cumsum(x_counts), np.cumsum(y_counts)
    per_game = []
    for x_end, x_count, y_end, y_count in zip(x_ends, x_counts, y_ends, y_counts, strict=True):
        a = x[:, x_end - x_count : x_end, None]
        b = y[:, None, y_end - y_count : y_end]
        per_game.append(((a > b) + 0.5 * (a == b)).mean(axis=(1, 2)))
    return np.mean(per_game, axis=0)


def _iqm_difference(x: np.ndarray, x_counts: np.ndarray, y: np.ndarray, y_counts: np.ndarray) -> np.ndarray:
    return stats.trim_mean(x, 0.25, axis=1) - stats.trim_mean(y, 0.25, axis=1)


def _compare(
    x: Mapping[str, Sequence[float]],
    y: Mapping[str, Sequence[float]],
    statistic: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    reps: int,
    seed: int,
    confidence: float,
) -> Interval:
    """A statistic of two score sets on the same games, with the percentile interval of the bootstrap that
    resamples each set's runs independently, within each game (rliable's StratifiedIndependentBootstrap)."""
    _check_bootstrap(reps, confidence)
    x_games, x_flat, x_counts = _laid_out(x)
    y_games, y_flat, y_counts = _laid_out(y)
    if x_games != y_games:
        only = sorted(set(x_games) ^ set(y_games))
        raise UsageError(f"scores compared must cover the same games; {', '.join(only)} only in one of them")
    point = float(statistic(x_flat[None, :], x_counts, y_flat[None, :], y_counts)[0])
    # The largest per-row array is a game's pairs of runs (probability of improvement).
    cells = x_flat.size + y_flat.size + int(np.max(x_counts * y_counts))
    x_seed, y_seed = np.random.SeedSequence(seed).spawn(2)
    replicates = np.concatenate(
        [
            statistic(x_flat[xi], x_counts, y_flat[yi], y_counts)
            for xi, yi in zip(
                _resampled_indices(x_counts, reps, x_seed, cells),
                _resampled_indices(y_counts, reps, y_seed, cells),
                strict=True,
            )
        ]
    )
    lower, upper = (1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0
    return Interval(point, _percentile(replicates, lower), _percentile(replicates, upper))


def probability_of_improvement(
    x: Mapping[str, Sequence[float]],
    y: Mapping[str, Sequence[float]],
    *,
    reps: int = 50_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Interval:
    """P(X > Y), rliable's average probability of improvement: per game, the probability that a run of X scores
    above a run of Y, ties counting one half (the Mann-Whitney U statistic over the runs' pairs, divided by their
    number), averaged over games. The games must be the same; their runs may differ in number, within X, within
    Y and between them. Invariant under any increasing transform of a game's scores (HNS or raw return alike)."""
    return _compare(x, y, _improvement, reps, seed, confidence)


def iqm_difference(
    x: Mapping[str, Sequence[float]],
    y: Mapping[str, Sequence[float]],
    *,
    reps: int = 50_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Interval:
    """IQM of X minus IQM of Y, each the 25% trimmed mean over all (run, game) scores, with the interval of the
    same independent stratified bootstrap as `probability_of_improvement`."""
    return _compare(x, y, _iqm_difference, reps, seed, confidence)


@dataclass(frozen=True)
class Band:
    """A curve and its pointwise percentile interval."""

    values: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray


def _band(point: np.ndarray, replicates: np.ndarray, confidence: float) -> Band:
    lower, upper = (1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0
    low, high = np.percentile(replicates, [100 * lower, 100 * upper], axis=0)  # finite here: numpy's rule is exact
    return Band(point, low, high)


def performance_profile(
    scores: Mapping[str, Sequence[float]],
    thresholds: Sequence[float] | np.ndarray,
    *,
    reps: int = 2_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Band:
    """The performance profile: at each threshold tau, the fraction of runs scoring above tau, averaged over
    games (rliable's run-score distribution; with the same runs per game, the fraction of all (run, game)
    scores), with stratified-bootstrap percentile bands. Averaging per game first keeps a game with more
    seeds from weighing more."""
    _check_bootstrap(reps, confidence)
    _, flat, counts = _laid_out(scores)
    taus = np.asarray(thresholds, dtype=float)
    ends = np.cumsum(counts)

    def fraction(runs: np.ndarray) -> np.ndarray:
        above = runs[:, :, None] > taus
        return np.mean(
            [above[:, end - count : end].mean(axis=1) for end, count in zip(ends, counts, strict=True)], axis=0
        )

    batches = [fraction(flat[i]) for i in _resampled_indices(counts, reps, seed, flat.size * taus.size)]
    return _band(fraction(flat[None, :])[0], np.concatenate(batches), confidence)


def mean_curve(curves: np.ndarray, *, reps: int = 2_000, seed: int = 0, confidence: float = 0.95) -> Band:
    """The mean over runs of learning curves (runs x points, the same points for each run), with percentile bands
    of the bootstrap that resamples whole runs, as rliable's sample-efficiency curves are drawn."""
    _check_bootstrap(reps, confidence)
    curves = np.asarray(curves, dtype=float)
    if curves.ndim != 2 or curves.shape[0] == 0 or not np.isfinite(curves).all():
        raise UsageError("curves must be a non-empty runs x points array of finite values")
    counts = np.array([curves.shape[0]])
    batches = [curves[i].mean(axis=1) for i in _resampled_indices(counts, reps, seed, curves.size)]
    return _band(curves.mean(axis=0), np.concatenate(batches), confidence)
