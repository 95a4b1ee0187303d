"""The Atari100k game catalogue, its named sets, and the one place user-given game names are resolved."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from importlib import resources

from ablate.baselines import BASELINE_LABELS, load_baseline
from ablate.errors import UsageError


@dataclass(frozen=True)
class Game:
    name: str
    ale_id: str | None
    random: float | None
    human: float | None  # Atari games only: what HNS normalises by
    best: float | None = None  # the highest return there is, for a game that has one (catch)

    @property
    def is_atari(self) -> bool:
        return self.ale_id is not None


def _load_catalogue() -> dict[str, Game]:
    ref = json.loads(resources.files("ablate").joinpath("reference_scores.json").read_text())
    games = {
        name: Game(name, f"ALE/{name}-v5", float(ref["random"][name]), float(human))
        for name, human in ref["human"].items()
    }
    # The built-in sanity game: no ALE id and no human score, so it is never HNS-scored. A uniformly random
    # policy catches one ball in five (-0.6 exactly, envs/catch.py); a perfect one every ball.
    games["catch"] = Game("catch", None, -0.6, None, best=1.0)
    return games


GAMES: dict[str, Game] = _load_catalogue()
ATARI100K: tuple[str, ...] = tuple(name for name, game in GAMES.items() if game.is_atari)

# JEDI's split, reconstructed from its stated rule (JEDI.md section 2): the 13 games where the average
# HNS of IRIS, TWM, DreamerV3 and STORM ranks highest are Agent-Optimal, the rest Human-Optimal. The
# ranking takes STORM's paper Freeway score (about 34); its released per-seed file has 0 there.
AGENT_OPTIMAL: tuple[str, ...] = (
    "Assault", "Boxing", "Breakout", "CrazyClimber", "Freeway", "Gopher", "Jamesbond",
    "Kangaroo", "Krull", "KungFuMaster", "Pong", "RoadRunner", "UpNDown",
)  # fmt: skip
HUMAN_OPTIMAL: tuple[str, ...] = (
    "Alien", "Amidar", "Asterix", "BankHeist", "BattleZone", "ChopperCommand", "DemonAttack",
    "Frostbite", "Hero", "MsPacman", "PrivateEye", "Qbert", "Seaquest",
)  # fmt: skip

GAME_SETS: dict[str, tuple[str, ...]] = {
    "atari100k": ATARI100K,
    "human-optimal": HUMAN_OPTIMAL,
    "agent-optimal": AGENT_OPTIMAL,
}


def _key(text: str) -> str:
    # Case, spaces, underscores and dashes never distinguish two names, so "up_n_down" finds UpNDown.
    return re.sub(r"[\s_-]", "", text.lower())


def _game_aliases() -> dict[str, str]:
    aliases: dict[str, str] = {}
    for game in GAMES.values():
        forms = [game.name]
        if game.ale_id is not None:
            forms += [game.ale_id, f"{game.name}NoFrameskip-v4"]  # the v4 id names the same protocol
        aliases.update({_key(form): game.name for form in forms})
    return aliases


_GAME_ALIASES = _game_aliases()
_SET_ALIASES = {_key(name): name for name in GAME_SETS}


def _unknown(kind: str, name: str) -> UsageError:
    by_key = {_key(candidate): candidate for candidate in [*GAME_SETS, *GAMES]}
    close = difflib.get_close_matches(_key(name), list(by_key), n=1)
    hint = f" (did you mean '{by_key[close[0]]}'?)" if close else ""
    return UsageError(f"unknown {kind} '{name.strip()}'{hint}; sets: {', '.join(GAME_SETS)}; games: {', '.join(GAMES)}")


def lookup_set(name: str) -> str | None:
    """The canonical set name `name` refers to, or None when it names no set."""
    return _SET_ALIASES.get(_key(name))


def resolve_game(name: str) -> str:
    """The canonical name of one game: 'pong', 'ALE/Pong-v5' and 'PongNoFrameskip-v4' all give 'Pong'."""
    game = _GAME_ALIASES.get(_key(name))
    if game is not None:
        return game
    set_name = lookup_set(name)
    if set_name is not None:
        raise UsageError(f"'{name.strip()}' is a set of games, not one game; name a single game, e.g. 'Pong'")
    raise _unknown("game", name)


def resolve_games(expr: str) -> list[str]:
    """Canonical game names of a comma-separated mix of set and game names, in first-appearance order."""
    items = [item.strip() for item in expr.split(",") if item.strip()]
    if not items:
        raise UsageError(
            f"no games given; name sets ({', '.join(GAME_SETS)}) or games, separated by commas, e.g. 'Pong,Breakout'"
        )
    resolved: dict[str, None] = {}  # a dict keeps first-appearance order while dropping duplicates
    for item in items:
        set_name = lookup_set(item)
        if set_name is not None:
            resolved.update(dict.fromkeys(GAME_SETS[set_name]))
        elif _key(item) in _GAME_ALIASES:
            resolved[_GAME_ALIASES[_key(item)]] = None
        else:
            raise _unknown("game or set", item)
    return list(resolved)


def half_of(game: str) -> str | None:
    """The JEDI half ('human-optimal' or 'agent-optimal') a game belongs to; None for non-Atari games."""
    name = resolve_game(game)
    if name in HUMAN_OPTIMAL:
        return "human-optimal"
    if name in AGENT_OPTIMAL:
        return "agent-optimal"
    return None


def hns(game: str, score: float) -> float:
    """Human-normalised score: (score - random) / (human - random)."""
    info = GAMES[resolve_game(game)]
    if info.random is None or info.human is None:
        raise UsageError(f"'{info.name}' has no human/random reference scores, so it has no HNS; use an Atari game")
    return (score - info.random) / (info.human - info.random)


def references(game: str) -> dict[str, float]:
    """The scores a result on `game` is read against: random, then human (Atari) or perfect (catch), then each
    published baseline's mean over its seeds (Atari)."""
    info = GAMES[game]
    found = {"random": info.random, "human": info.human, "perfect": info.best}
    refs = {label: value for label, value in found.items() if value is not None}
    for key, label in BASELINE_LABELS.items():
        scores = load_baseline(key).get(game)
        if scores:
            refs[label] = sum(scores) / len(scores)
    return refs
