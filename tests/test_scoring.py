"""Scoring: per-game means, every aggregate on hand-worked inputs, bootstrap intervals, input checks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from ablate.baselines import BASELINES, load_baseline
from ablate.errors import UsageError
from ablate.games import AGENT_OPTIMAL, GAME_SETS, GAMES, HUMAN_OPTIMAL, hns
from ablate.scoring import load_scores, score_runs

# Returns chosen so the HNS are round numbers (range = human - random):
# Pong (-20.7, 14.6; range 35.3): -20.7 -> 0, 14.6 -> 1, 49.9 -> 2.
# Breakout (1.7, 30.5; range 28.8): -12.7 -> -0.5, 16.1 -> 0.5.
# Boxing (0.1, 12.1; range 12): 48.1 -> 4.
RAGGED = {"Pong": [-20.7, 14.6, 49.9], "Breakout": [-12.7, 16.1], "Boxing": [48.1]}


def returns_for(target: float, game: str) -> float:
    """The return whose HNS is `target` (inverse of the HNS formula, worked from the reference scores)."""
    info = GAMES[game]
    return info.random + target * (info.human - info.random)


def full_benchmark(human_half: float, agent_half: float) -> dict[str, list[float]]:
    """One seed per game, every Human-Optimal game at `human_half` HNS, every Agent-Optimal at `agent_half`."""
    scores = {game: [returns_for(human_half, game)] for game in HUMAN_OPTIMAL}
    scores.update({game: [returns_for(agent_half, game)] for game in AGENT_OPTIMAL})
    return scores


def test_per_game_means_hns_and_seeds() -> None:
    report = score_runs({**RAGGED, "catch": [1.0, 3.0]}, reps=100)
    assert list(report.per_game) == ["Boxing", "Breakout", "Pong", "catch"]  # catalogue order
    pong = report.per_game["Pong"]
    assert (pong.mean_return, pong.hns, pong.seeds) == (pytest.approx(14.6), pytest.approx(1.0), 3)
    breakout = report.per_game["Breakout"]
    assert (breakout.mean_return, breakout.hns, breakout.seeds) == (pytest.approx(1.7), pytest.approx(0.0), 2)
    assert report.per_game["Boxing"].hns == pytest.approx(4.0)
    assert report.per_game["catch"].hns is None
    assert report.per_game["catch"].mean_return == 2.0
    # (14.6 + 1.7 + 48.1 + 2) / 4 = 16.6: catch counts towards the mean return.
    assert report.mean_return == pytest.approx(16.6)


def test_aggregates_by_hand_on_ragged_runs() -> None:
    agg = score_runs(RAGGED, reps=100).aggregates
    # Per-game mean HNS: Pong 1, Breakout 0, Boxing 4.
    assert agg["mean"].value == pytest.approx(5 / 3)
    assert agg["median"].value == pytest.approx(1.0)
    # All six runs sorted: -0.5, 0, 0.5, 1, 2, 4; trimming int(0.25 * 6) = 1 from each end leaves 0..2.
    assert agg["iqm"].value == pytest.approx((0 + 0.5 + 1 + 2) / 4)
    # max(1 - x, 0) per run: 1, 0, 0 (Pong); 1.5, 0.5 (Breakout); 0 (Boxing).
    assert agg["optimality_gap"].value == pytest.approx(3 / 6)
    assert set(agg) == {"mean", "median", "iqm", "optimality_gap"}  # no whole half, not all 26 games


def test_catch_does_not_change_aggregates() -> None:
    with_catch = score_runs({**RAGGED, "catch": [5.0]}, reps=200).aggregates
    assert with_catch == score_runs(RAGGED, reps=200).aggregates


def test_catch_alone_has_no_aggregates() -> None:
    report = score_runs({"catch": [1.0, 2.0]}, reps=10)
    assert report.aggregates == {}
    assert report.mean_return == 1.5


def test_half_figures_ratio_sym_and_har_by_hand() -> None:
    agg = score_runs(full_benchmark(0.5, 2.0), reps=200).aggregates
    assert agg["human_optimal_mean"].value == pytest.approx(0.5)
    assert agg["agent_optimal_mean"].value == pytest.approx(2.0)
    assert agg["asymmetry_ratio"].value == pytest.approx(4.0)
    assert agg["sym_hns"].value == pytest.approx(1.0)  # sqrt(0.5 * 2)
    # 1 / mean(13 x 1/0.6, 13 x 1/2.1) = 1 / ((5/3 + 10/21) / 2) = 1 / (15/14)
    assert agg["har_hns"].value == pytest.approx(14 / 15)
    assert agg["mean"].value == pytest.approx(1.25)
    assert agg["median"].value == pytest.approx(1.25)  # between the 13th (0.5) and 14th (2.0)
    assert agg["iqm"].value == pytest.approx(1.25)  # 7 x 0.5 and 7 x 2.0 survive trimming 6 each side
    assert agg["optimality_gap"].value == pytest.approx(13 * 0.5 / 26)


def test_one_seed_per_game_gives_a_degenerate_interval() -> None:
    # Resampling within each game cannot move a single run, so every replicate equals the point.
    for interval in score_runs(full_benchmark(0.5, 2.0), reps=200).aggregates.values():
        assert interval.ci_low == pytest.approx(interval.value)
        assert interval.ci_high == pytest.approx(interval.value)


def test_negative_human_half_floors_sym_drops_ratio_and_har_stays_finite() -> None:
    agg = score_runs(full_benchmark(-0.05, 2.0), reps=50).aggregates
    assert agg["human_optimal_mean"].value == pytest.approx(-0.05)
    assert "asymmetry_ratio" not in agg  # undefined over a non-positive Human-Optimal mean
    assert agg["sym_hns"].value == pytest.approx(0.0)  # sqrt(max(-0.05, 0) * 2)
    # 1 / ((1/0.05 + 1/2.1) / 2) = 1 / ((20 + 10/21) / 2) = 21 / 215
    assert agg["har_hns"].value == pytest.approx(21 / 215)


def test_har_is_zero_when_a_game_is_at_or_below_minus_a_tenth() -> None:
    scores = full_benchmark(0.5, 2.0)
    scores["Alien"] = [returns_for(-0.2, "Alien")]
    assert score_runs(scores, reps=50).aggregates["har_hns"].value == 0.0


def test_subset_figures_absent_on_partial_input() -> None:
    scores = full_benchmark(0.5, 2.0)
    del scores["Pong"]  # the Agent-Optimal half is now incomplete
    agg = score_runs(scores, reps=50).aggregates
    assert agg["human_optimal_mean"].value == pytest.approx(0.5)
    for name in ("agent_optimal_mean", "asymmetry_ratio", "sym_hns", "har_hns"):
        assert name not in agg
    only_agent = {game: [returns_for(1.0, game)] for game in AGENT_OPTIMAL}
    assert set(score_runs(only_agent, reps=50).aggregates) == {
        "mean", "median", "iqm", "optimality_gap", "agent_optimal_mean",
    }  # fmt: skip


def test_bootstrap_percentiles_of_a_known_distribution() -> None:
    # One game, runs at HNS 0 and 1: a replicate's mean is 0, 0.5 or 1 with probability 1/4, 1/2, 1/4,
    # so the 2.5th and 97.5th percentiles are 0 and 1.
    interval = score_runs({"Pong": [-20.7, 14.6]}, reps=20_000).aggregates["mean"]
    assert (interval.value, interval.ci_low, interval.ci_high) == (pytest.approx(0.5), 0.0, 1.0)


def test_bootstrap_resamples_within_each_game() -> None:
    # Per-game resampled means lie in [0, 2] (Pong), [-0.5, 0.5] (Breakout) and {4} (Boxing).
    interval = score_runs(RAGGED, reps=5_000).aggregates["mean"]
    assert 3.5 / 3 - 1e-9 <= interval.ci_low < interval.value < interval.ci_high <= 6.5 / 3 + 1e-9


def test_ratio_interval_is_unbounded_when_the_human_half_can_resample_to_zero() -> None:
    # Alien's runs at HNS -1 and 1.13 (mean 0.065); the other Human-Optimal games at 0, the Agent-Optimal
    # at 1. Human-Optimal mean: 0.065 / 13 = 0.005, so the ratio is 200. A replicate drawing Alien's -1
    # twice (probability 1/4) has a negative Human-Optimal mean: unbounded ratio. Drawing 1.13 twice
    # (1/4) gives 1 / (1.13 / 13).
    scores = full_benchmark(0.0, 1.0)
    scores["Alien"] = [returns_for(-1.0, "Alien"), returns_for(1.13, "Alien")]
    report = score_runs(scores, reps=20_000)
    ratio = report.aggregates["asymmetry_ratio"]
    assert ratio.value == pytest.approx(200.0)
    assert ratio.ci_low == pytest.approx(13 / 1.13)
    assert math.isinf(ratio.ci_high)
    as_dict = report.to_dict()["aggregates"]["asymmetry_ratio"]
    assert as_dict["ci_high"] is None
    json.dumps(report.to_dict(), allow_nan=False)  # strict JSON


def test_interval_is_reproducible_under_a_seed_and_brackets_the_point() -> None:
    scores = load_baseline("diamond")
    first = score_runs(scores, reps=2_000, seed=7)
    assert score_runs(scores, reps=2_000, seed=7).aggregates == first.aggregates
    assert score_runs(scores, reps=2_000, seed=8).aggregates != first.aggregates
    assert set(first.aggregates) == {
        "mean", "median", "iqm", "optimality_gap", "human_optimal_mean", "agent_optimal_mean",
        "asymmetry_ratio", "sym_hns", "har_hns",
    }  # fmt: skip
    for name, interval in first.aggregates.items():
        assert interval.ci_low < interval.value < interval.ci_high, name


def test_wider_confidence_gives_a_wider_interval() -> None:
    scores = load_baseline("iris")
    narrow = score_runs(scores, reps=2_000, confidence=0.5).aggregates["iqm"]
    wide = score_runs(scores, reps=2_000, confidence=0.99).aggregates["iqm"]
    assert wide.ci_low < narrow.ci_low < narrow.ci_high < wide.ci_high


def test_diamond_matches_its_published_figures() -> None:
    agg = score_runs(load_scores("diamond"), reps=1_000).aggregates
    assert round(agg["mean"].value, 2) == 1.46
    assert round(agg["iqm"].value, 2) == 0.64
    assert round(agg["agent_optimal_mean"].value, 3) == 2.791
    assert round(agg["human_optimal_mean"].value, 3) == 0.127


def test_to_dict_has_exactly_the_documented_shape() -> None:
    data = score_runs({**RAGGED, "catch": [1.0]}, reps=50).to_dict()
    assert set(data) == {"per_game", "aggregates"}
    assert data["per_game"]["catch"] == {"mean_return": 1.0, "hns": None, "seeds": 1}
    assert set(data["per_game"]["Pong"]) == {"mean_return", "hns", "seeds"}
    assert set(data["aggregates"]["iqm"]) == {"value", "ci_low", "ci_high"}


def test_rliable_point_estimates_agree() -> None:
    metrics = pytest.importorskip("rliable.metrics")
    for name in BASELINES:
        scores = load_baseline(name)
        games = GAME_SETS["atari100k"]
        matrix = np.array([[hns(game, x) for x in scores[game]] for game in games]).T  # (runs, games)
        agg = score_runs(scores, reps=10).aggregates
        assert agg["mean"].value == pytest.approx(metrics.aggregate_mean(matrix))
        assert agg["median"].value == pytest.approx(metrics.aggregate_median(matrix))
        assert agg["iqm"].value == pytest.approx(metrics.aggregate_iqm(matrix))
        assert agg["optimality_gap"].value == pytest.approx(metrics.aggregate_optimality_gap(matrix))


def test_load_scores_canonicalises_keys(tmp_path: Path) -> None:
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"pong": [1, 2.5], "ALE/Breakout-v5": [3], "CATCH": [0]}))
    assert load_scores(str(path)) == {"Breakout": [3.0], "Pong": [1.0, 2.5], "catch": [0.0]}


def test_load_scores_baseline_names_are_case_insensitive() -> None:
    assert load_scores("DIAMOND") == load_scores("diamond") == load_baseline("diamond")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ("{}", "no games"),
        ('{"Pongg": [1]}', "unknown game 'Pongg' (did you mean 'Pong'?)"),
        ('{"Pong": []}', "empty list"),
        ('{"Pong": 3}', "must be a list"),
        ('{"Pong": [1, "2"]}', "'2' of Pong is not a number"),
        ('{"Pong": [true]}', "True of Pong is not a number"),
        ('{"Pong": [null]}', "None of Pong is not a number"),
        ('{"Pong": [NaN]}', "not finite"),
        ('{"Pong": [Infinity]}', "not finite"),
        ('{"Pong": [-Infinity]}', "not finite"),
        ('{"Pong": [1e999]}', "not finite"),
        ('{"Pong": [1], "pong": [2]}', "Pong appears twice"),
    ],
)
def test_bad_files_are_one_line_usage_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "runs.json"
    path.write_text(text)
    with pytest.raises(UsageError) as info:
        load_scores(str(path))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unreadable_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read scores file"):
        load_scores(str(tmp_path / "missing.json"))
    with pytest.raises(UsageError, match="cannot read scores file"):
        load_scores(str(tmp_path))  # a directory
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UsageError, match="cannot read scores file"):
        load_scores(str(binary))


@pytest.mark.parametrize(
    ("scores", "kwargs", "message"),
    [
        ({}, {}, "no games"),
        ({"Pong": [float("nan")]}, {}, "not finite"),
        ({"Pong": [np.float32(1.0), False]}, {}, "not a number"),
        ({"Pong": [1.0]}, {"reps": 0}, "reps must be at least 1"),
        ({"Pong": [1.0]}, {"confidence": 1.0}, "confidence must lie strictly between 0 and 1"),
    ],
)
def test_score_runs_checks_its_input(scores: dict, kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        score_runs(scores, **kwargs)
