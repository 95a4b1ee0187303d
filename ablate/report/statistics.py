"""The report's numbers, computed once from a collection: one function per statistic, over ablate.scoring.

Scales: an Atari game is compared on HNS, a game without human scores (catch) on raw return; the two never mix
in one aggregate. Aggregates and comparisons cover the games every compared entry has finished runs of; a
published baseline joins them where it has every one of those games. Every interval is the 95% stratified-
bootstrap percentile interval of ablate.scoring (runs resampled within each game), seeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from ablate.baselines import BASELINE_LABELS, load_baseline
from ablate.games import GAMES, hns
from ablate.report.collect import Collection, Entry
from ablate.scoring import (
    Band,
    Interval,
    iqm_difference,
    mean_curve,
    performance_profile,
    probability_of_improvement,
    return_aggregates,
    score_runs,
)

Scale = Literal["hns", "return"]
PLOT_REPS = 2_000  # resamples behind a plotted band: rliable's default for performance profiles
_THRESHOLDS = 101


@dataclass(frozen=True)
class Subject:
    """What one row compares: an entry's finished runs, or a published baseline's per-seed scores."""

    label: str
    returns: dict[str, list[float]]  # game -> final returns, one per run
    published: bool = False


@dataclass(frozen=True)
class GameResult:
    subject: str
    game: str
    runs: int
    mean_return: Interval
    hns: float | None
    published: bool
    best: bool  # the highest mean return of the entries on this game (published baselines not counted)


@dataclass
class Group:
    """The comparison on one scale: HNS over the common Atari games, or raw return over the other common ones."""

    scale: Scale
    games: list[str]
    subjects: list[Subject]
    aggregates: dict[str, dict[str, Interval]] = field(default_factory=dict)  # subject -> aggregate -> interval
    improvement: dict[str, Interval] = field(default_factory=dict)  # subject -> P(subject > baseline)
    iqm_difference: dict[str, Interval] = field(default_factory=dict)  # subject -> IQM(subject) - IQM(baseline)
    thresholds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    profiles: dict[str, Band] = field(default_factory=dict)


@dataclass(frozen=True)
class Curve:
    subject: str
    game: str
    steps: np.ndarray
    band: Band
    runs: int


@dataclass
class Comparison:
    baseline: str
    subjects: list[Subject]
    left_out: dict[str, str]  # game -> why the aggregates leave it out
    notes: list[str]
    per_game: list[GameResult]
    groups: list[Group]
    curves: list[Curve]
    references: dict[str, dict[str, float]]  # game -> published baseline -> its mean score (curves' reference lines)


def scale_of(game: str) -> Scale:
    """What a game is compared on: HNS where it has human scores, its raw return otherwise."""
    return "hns" if GAMES[game].is_atari else "return"


def scores(subject: Subject, games: Sequence[str]) -> dict[str, list[float]]:
    """The subject's runs on `games` on each game's scale (HNS or raw return)."""
    return {g: [hns(g, r) if scale_of(g) == "hns" else r for r in subject.returns[g]] for g in games}


def common_games(subjects: Sequence[Subject], asked: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The games every subject has runs of, in catalogue order, and why each other game in `asked` or in some
    subject's runs is left out."""
    seen = set(asked) | {game for s in subjects for game in s.returns}
    common, left_out = [], {}
    for game in (g for g in GAMES if g in seen):
        lacking = [s.label for s in subjects if game not in s.returns]
        if not lacking:
            common.append(game)
        elif len(lacking) == len(subjects):
            left_out[game] = "no finished run yet"
        else:
            left_out[game] = f"no finished run of {', '.join(lacking)}"
    return common, left_out


def game_result(subject: Subject, game: str, *, reps: int, seed: int) -> GameResult:
    """Mean final return of one subject on one game with its interval (runs resampled), runs and HNS of the mean."""
    mean = return_aggregates({game: subject.returns[game]}, reps=reps, seed=seed)["mean"]
    score = hns(game, mean.value) if scale_of(game) == "hns" else None
    return GameResult(subject.label, game, len(subject.returns[game]), mean, score, subject.published, False)


def aggregates(subject: Subject, scale: Scale, games: Sequence[str], *, reps: int, seed: int) -> dict[str, Interval]:
    """On HNS, every aggregate of `score_runs` that the games allow (mean, median, IQM, optimality gap, the JEDI
    halves' means, their ratio, Sym-HNS, Har-HNS); on raw return, mean, median and IQM."""
    returns = {g: subject.returns[g] for g in games}
    if scale == "hns":
        return score_runs(returns, reps=reps, seed=seed).aggregates
    return return_aggregates(returns, reps=reps, seed=seed)


def versus(
    subject: Subject, baseline: Subject, games: Sequence[str], *, reps: int, seed: int
) -> tuple[Interval, Interval]:
    """Probability of improvement of the subject over the baseline (rliable's), and the IQM difference subject
    minus baseline, on the games' own scales, each with the interval of the independent stratified bootstrap."""
    x, y = scores(subject, games), scores(baseline, games)
    return (
        probability_of_improvement(x, y, reps=reps, seed=seed),
        iqm_difference(x, y, reps=reps, seed=seed),
    )


def thresholds(subjects: Sequence[Subject], games: Sequence[str]) -> np.ndarray:
    """Where the performance profiles are read: from 0 (or the lowest score, if below) to the highest score."""
    values = [v for s in subjects for runs in scores(s, games).values() for v in runs]
    low, high = min(0.0, min(values)), max(values)
    return np.linspace(low, high if high > low else low + 1.0, _THRESHOLDS)


def profile(subject: Subject, games: Sequence[str], taus: np.ndarray, *, seed: int) -> Band:
    """The subject's performance profile: the fraction of its (run, game) scores above each threshold."""
    return performance_profile(scores(subject, games), taus, reps=PLOT_REPS, seed=seed)


def curve(entry: Entry, game: str, *, seed: int) -> Curve | None:
    """Mean `eval/return` over the finished seeds against environment steps, at the steps every seed evaluated."""
    runs = [job.curve for job in entry.jobs.values() if job.game == game and job.state == "finished" and job.curve]
    if not runs:
        return None
    steps = sorted(set.intersection(*(set(step for step, _ in run) for run in runs)))
    if not steps:
        return None
    matrix = np.array([[dict(run)[step] for step in steps] for run in runs])
    return Curve(entry.label, game, np.array(steps), mean_curve(matrix, reps=PLOT_REPS, seed=seed), len(runs))


def published_subjects(names: Sequence[str], games: Sequence[str]) -> list[Subject]:
    """The published baselines' per-seed scores on those of `games` they report."""
    subjects = []
    for name in names:
        found = {g: runs for g, runs in load_baseline(name).items() if g in games}
        if found:
            subjects.append(Subject(f"{BASELINE_LABELS[name]} (published)", found, published=True))
    return subjects


def _group(
    scale: Scale, games: list[str], subjects: list[Subject], baseline: Subject, *, reps: int, seed: int
) -> Group:
    members = [s for s in subjects if all(g in s.returns for g in games)]
    group = Group(scale, games, members)
    group.thresholds = thresholds(members, games)
    for s in members:
        group.aggregates[s.label] = aggregates(s, scale, games, reps=reps, seed=seed)
        group.profiles[s.label] = profile(s, games, group.thresholds, seed=seed)
        if s is not baseline:
            group.improvement[s.label], group.iqm_difference[s.label] = versus(s, baseline, games, reps=reps, seed=seed)
    return group


def compare(collection: Collection, baseline: str, published: Sequence[str], *, reps: int, seed: int) -> Comparison:
    """Every statistic of the report. `baseline` is the label of an entry with finished runs."""
    entries = [e for e in collection.entries if e.finished_games()]
    subjects = [Subject(e.label, {g: e.returns(g) for g in e.finished_games()}) for e in entries]
    notes = [
        f"{e.label}: no finished run yet, so only in the status table" for e in collection.entries if e not in entries
    ]
    asked = [job.game for e in collection.entries for job in e.jobs.values()]
    common, left_out = common_games(subjects, asked)
    seen = [g for g in GAMES if any(g in s.returns for s in subjects)]
    references = published_subjects(published, [g for g in seen if scale_of(g) == "hns"])

    per_game = []
    for game in seen:
        results = [game_result(s, game, reps=reps, seed=seed) for s in subjects + references if game in s.returns]
        top = max(r.mean_return.value for r in results if not r.published)
        per_game += [replace(r, best=not r.published and r.mean_return.value == top) for r in results]

    (chosen,) = [s for s in subjects if s.label == baseline]
    groups = []
    for scale in ("hns", "return"):
        games = [g for g in common if scale_of(g) == scale]
        if games:
            rows = subjects + (references if scale == "hns" else [])
            groups.append(_group(scale, games, rows, chosen, reps=reps, seed=seed))

    curves = [c for e in entries for g in seen if (c := curve(e, g, seed=seed)) is not None]
    means = {
        g: {ref.label: float(np.mean(ref.returns[g])) for ref in references if g in ref.returns}
        for g in seen
        if scale_of(g) == "hns"
    }
    return Comparison(baseline, subjects + references, left_out, notes, per_game, groups, curves, means)
