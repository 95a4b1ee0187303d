"""A study's objective: a scoring aggregate, one game's HNS, or catch's mean return, read off a trial's scores."""

from __future__ import annotations

from collections.abc import Sequence

from ablate.errors import UsageError, did_you_mean
from ablate.games import GAMES, resolve_game
from ablate.scoring import AGGREGATES, ScoreReport, score_runs

MEAN_RETURN = "mean_return"
HNS_PREFIX = "hns:"


def parse_objective(objective: str, games: Sequence[str]) -> str:
    """The objective's canonical name, refused when it cannot be computed on `games`."""
    if objective.startswith(HNS_PREFIX):
        objective = HNS_PREFIX + resolve_game(objective.removeprefix(HNS_PREFIX))
    elif objective not in (MEAN_RETURN, *AGGREGATES):
        raise UsageError(
            f"unknown objective '{objective}'{did_you_mean(objective, (MEAN_RETURN, *AGGREGATES))}; "
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
