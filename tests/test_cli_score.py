"""`ablate score` end to end through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ablate.cli.main import main


def test_score_diamond_json_reproduces_the_published_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "diamond", "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    data = json.loads(captured.out)  # the whole of stdout is one JSON document
    assert set(data) == {"per_game", "aggregates"}
    assert len(data["per_game"]) == 26
    assert data["per_game"]["Pong"]["seeds"] == 5
    agg = data["aggregates"]
    assert round(agg["mean"]["value"], 2) == 1.46
    assert round(agg["iqm"]["value"], 2) == 0.64
    assert round(agg["agent_optimal_mean"]["value"], 3) == 2.791
    assert round(agg["human_optimal_mean"]["value"], 3) == 0.127
    for interval in agg.values():
        assert interval["ci_low"] < interval["value"] < interval["ci_high"]


def test_score_json_is_reproducible_and_seeded(capsys: pytest.CaptureFixture[str]) -> None:
    outputs = []
    for seed in ("1", "1", "2"):
        assert main(["score", "IRIS", "--json", "--reps", "500", "--seed", seed]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] != outputs[2]


def test_score_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "diamond", "--reps", "1000"]) == 0
    out = capsys.readouterr().out
    for text in ("Pong", "Seaquest", "Mean HNS", "1.459", "IQM HNS", "Human-Optimal mean HNS", "0.127",
                 "Agent-Optimal mean HNS", "2.791", "Sym-HNS", "Har-HNS", "95% CI"):  # fmt: skip
        assert text in out


def test_score_file_with_catch_and_partial_games(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"pong": [14.6, -20.7], "catch": [1.0, 0.0, 1.0]}))
    assert main(["score", str(path), "--json", "--reps", "200"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["per_game"]["Pong"] == {"mean_return": pytest.approx(-3.05), "hns": pytest.approx(0.5), "seeds": 2}
    assert data["per_game"]["catch"]["hns"] is None
    assert set(data["aggregates"]) == {"mean", "median", "iqm", "optimality_gap"}


def test_help_describes_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "--help"]) == 0
    out = capsys.readouterr().out
    assert "FILE_OR_BASELINE" in out and "--json" in out and "--reps" in out and "diamond" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "cannot read scores file"),
        ("{oops", "not valid JSON"),
        ("[1, 2, 3]", "expected a JSON object"),
        ('{"NotAGame": [1.0]}', "unknown game 'NotAGame'"),
        ('{"Pong": []}', "empty list"),
        ('{"Pong": "high"}', "must be a list"),
        ('{"Pong": [1, "x"]}', "not a number"),
        ('{"Pong": [false]}', "not a number"),
        ('{"Pong": [NaN]}', "not finite"),
        ('{"Pong": [Infinity]}', "not finite"),
    ],
)
def test_bad_input_is_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | None, message: str
) -> None:
    path = tmp_path / "runs.json"
    if text is not None:
        path.write_text(text)
    assert main(["score", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and message in captured.err
    assert captured.err.count("\n") == 1
    assert "Traceback" not in captured.err


def test_bad_reps_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "diamond", "--reps", "0"]) == 2
    assert capsys.readouterr().err == "error: reps must be at least 1, got 0\n"
