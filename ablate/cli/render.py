"""Rich renderables shared by CLI commands; they format results, they never compute them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table

from ablate.games import GAMES, half_of

if TYPE_CHECKING:
    from ablate.scoring import ScoreReport

AGGREGATE_LABELS = {
    "mean": "Mean HNS",
    "median": "Median HNS",
    "iqm": "IQM HNS",
    "optimality_gap": "Optimality gap",
    "human_optimal_mean": "Human-Optimal mean HNS",
    "agent_optimal_mean": "Agent-Optimal mean HNS",
    "asymmetry_ratio": "Asymmetry ratio (agent / human)",
    "sym_hns": "Sym-HNS",
    "har_hns": "Har-HNS",
}
_HALF_LABELS = {"human-optimal": "Human-Optimal", "agent-optimal": "Agent-Optimal"}


def _number(x: float | None, digits: int) -> str:
    if x is None:
        return "-"
    return "inf" if math.isinf(x) else f"{x:,.{digits}f}"


def score_tables(report: ScoreReport, title: str) -> list[Table]:
    """A per-game table (seeds, mean return, HNS) and, when any Atari game was scored, an aggregates table."""
    games = Table(title=title, title_justify="left")
    games.add_column("game")
    games.add_column("seeds", justify="right")
    games.add_column("mean return", justify="right")
    games.add_column("HNS", justify="right")
    for name, score in report.per_game.items():
        games.add_row(name, str(score.seeds), _number(score.mean_return, 1), _number(score.hns, 3))
    tables = [games]
    if report.aggregates:
        percent = f"{report.confidence * 100:g}%"
        aggregates = Table(
            title=f"{title}: aggregates over {sum(GAMES[g].is_atari for g in report.per_game)} Atari games",
            title_justify="left",
            caption=f"{percent} CI: stratified bootstrap over runs within each game",
            caption_justify="left",
        )
        aggregates.add_column("aggregate")
        aggregates.add_column("value", justify="right")
        aggregates.add_column(f"{percent} CI", justify="right")
        for name, interval in report.aggregates.items():
            ci = f"[{_number(interval.ci_low, 3)}, {_number(interval.ci_high, 3)}]"
            aggregates.add_row(AGGREGATE_LABELS.get(name, name), _number(interval.value, 3), ci)
        tables.append(aggregates)
    return tables


def games_table(title: str, names: Sequence[str]) -> Table:
    """One row per game: its ALE id, reference scores and JEDI half."""
    table = Table(title=title, title_justify="left")
    table.add_column("game")
    table.add_column("ALE id")
    table.add_column("random", justify="right")
    table.add_column("human", justify="right")
    table.add_column("JEDI half")
    for name in names:
        game = GAMES[name]
        half = half_of(name)
        table.add_row(
            name,
            game.ale_id or "- (built-in sanity game)",
            _number(game.random, 1),
            _number(game.human, 1),
            _HALF_LABELS[half] if half else "-",
        )
    return table
