"""Rich renderables shared by CLI commands; they format results, they never compute them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table

from ablate.baselines import BASELINE_LABELS
from ablate.games import GAMES, half_of, references

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


def score_tables(report: ScoreReport, title: str, caveat: str | None = None) -> list[Table]:
    """A per-game table (seeds, mean return, HNS, and the scores to read them against: random, human or perfect,
    the published baselines' means) and, when any Atari game was scored, an aggregates table. `caveat` says
    why the scores are not the papers' protocol's, where they are not."""
    games = Table(title=title, title_justify="left", caption=caveat and f"HNS*: {caveat}", caption_justify="left")
    refs = {name: references(name) for name in report.per_game}
    games.add_column("game")
    games.add_column("seeds", justify="right")
    games.add_column("mean return", justify="right")
    games.add_column("HNS*" if caveat else "HNS", justify="right")
    games.add_column("random", justify="right", style="dim")
    games.add_column("human / perfect", justify="right", style="dim")
    for name, score in report.per_game.items():
        top = refs[name].get("human", refs[name].get("perfect"))
        games.add_row(
            name,
            str(score.seeds),
            _number(score.mean_return, 2),
            _number(score.hns, 3),
            _number(refs[name].get("random"), 1),
            _number(top, 1),
        )
    tables = [games]
    published = [label for label in BASELINE_LABELS.values() if any(label in r for r in refs.values())]
    if published:
        baselines = Table(title=f"{title}: published mean returns, for comparison", title_justify="left")
        baselines.add_column("game")
        for label in published:
            baselines.add_column(label, justify="right")
        for name, game_refs in refs.items():
            if any(label in game_refs for label in published):
                baselines.add_row(name, *[_number(game_refs.get(label), 1) for label in published])
        tables.append(baselines)
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
    table.add_column("human / perfect", justify="right")
    table.add_column("JEDI half")
    for name in names:
        game = GAMES[name]
        half = half_of(name)
        table.add_row(
            name,
            game.ale_id or "- (built-in sanity game)",
            _number(game.random, 1),
            _number(game.human if game.human is not None else game.best, 1),
            _HALF_LABELS[half] if half else "-",
        )
    return table


def result_line(game: str, mean_return: float, episodes: int, hns: float | None, caveat: str | None) -> str:
    """One run's score beside what it is read against, e.g. `mean return +0.72 over 100 episodes (random -0.6,
    perfect +1.0)`."""
    refs = ", ".join(f"{label} {value:+,.1f}" for label, value in references(game).items())
    line = f"{game}: mean return {mean_return:+,.2f} over {episodes} episodes ({refs})"
    if hns is not None:
        line += f"; HNS {hns:.3f}"
    return line + (f" [{caveat}]" if caveat else "")
