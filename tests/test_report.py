"""`ablate report` and `ablate study report`: the statistics against rliable's, a report over real `ablate run` runs
checked against values recomputed from their metrics, the status after a job is killed, the HTML page in a real
headless browser, a study's trials, and the refusals."""

from __future__ import annotations

import base64
import csv
import html.parser
import os
import shlex
import signal
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from conftest import ABLATE, rendered_dom
from mlflow import MlflowClient

from ablate.baselines import load_baseline
from ablate.cli.main import main
from ablate.games import ATARI100K, hns
from ablate.report.build import Options, ReportResult, VariantsRequest, report_variants
from ablate.report.render import Report
from ablate.report.tables import Table
from ablate.scoring import (
    Interval,
    iqm_difference,
    performance_profile,
    probability_of_improvement,
    return_aggregates,
)
from ablate.studies import TAG_OVERRIDE, TAG_STUDY, TAG_TRIAL
from ablate.tracking import (
    EVAL_RETURN,
    FINAL_MEAN_RETURN,
    Kind,
    Status,
    Tracker,
    job_run_name,
    job_tags,
    owner_tags,
    parent_tags,
)

SIX = list(ATARI100K[:6])
ENV = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "ABLATE_VARIANTS_DIR")} | {
    "OMP_NUM_THREADS": "1",
    "COLUMNS": "200",
}
KILLED = ("latent-8x4x4", "catch", 2)  # the runner's last job: variant by variant, game by game, seed by seed


def as_scores(matrix: np.ndarray) -> dict[str, list[float]]:
    """rliable's (runs x games) matrix as `ablate.scoring`'s game -> runs."""
    return {game: list(matrix[:, j]) for j, game in enumerate(SIX[: matrix.shape[1]])}


# -- the statistics, against rliable -----------------------------------------------------------------------------


@pytest.mark.parametrize(("x_shape", "y_shape"), [((5, 6), (3, 6)), ((3, 1), (3, 1)), ((10, 4), (2, 4))])
def test_point_estimates_and_probability_of_improvement_equal_rliables(
    x_shape: tuple[int, int], y_shape: tuple[int, int]
) -> None:
    metrics = pytest.importorskip("rliable.metrics")
    rng = np.random.default_rng(0)
    # Small integers: ties within a game and between the two, which rliable's Mann-Whitney U counts one half.
    x, y = (rng.integers(0, 4, size=shape).astype(float) for shape in (x_shape, y_shape))
    improvement = probability_of_improvement(as_scores(x), as_scores(y), reps=10)
    assert improvement.value == pytest.approx(metrics.probability_of_improvement(x, y))
    assert probability_of_improvement(as_scores(x), as_scores(x), reps=10).value == pytest.approx(0.5)
    difference = iqm_difference(as_scores(x), as_scores(y), reps=10).value
    assert difference == pytest.approx(metrics.aggregate_iqm(x) - metrics.aggregate_iqm(y))
    raw = return_aggregates(as_scores(x), reps=10)
    assert raw["mean"].value == pytest.approx(metrics.aggregate_mean(x))
    assert raw["median"].value == pytest.approx(metrics.aggregate_median(x))
    assert raw["iqm"].value == pytest.approx(metrics.aggregate_iqm(x))


def test_performance_profile_is_rliables_run_score_distribution() -> None:
    x = np.random.default_rng(3).normal(size=(5, 6))
    taus = np.linspace(-2.0, 2.0, 17)
    band = performance_profile(as_scores(x), taus, reps=500)
    # rliable.library.run_score_deviation: the fraction of all (run, game) scores above tau. (rliable.library
    # itself imports arch, which does not import beside every pandas release; its metrics module does.)
    np.testing.assert_allclose(band.values, [np.mean(x > tau) for tau in taus])
    assert np.all(band.ci_low <= band.values) and np.all(band.values <= band.ci_high)


def test_the_interval_of_the_probability_of_improvement_is_rliables_bootstrap() -> None:
    """rliable's StratifiedIndependentBootstrap, spelt out: each matrix's runs drawn with replacement within each
    game, independently of the other's, then rliable's own metric; percentile intervals agree within noise."""
    metrics = pytest.importorskip("rliable.metrics")
    rng = np.random.default_rng(1)
    x, y = rng.normal(0.4, 1.0, size=(5, 4)), rng.normal(0.0, 1.0, size=(4, 4))
    replicates = []
    for _ in range(1_000):
        xs = np.take_along_axis(x, rng.integers(0, x.shape[0], size=x.shape), axis=0)
        ys = np.take_along_axis(y, rng.integers(0, y.shape[0], size=y.shape), axis=0)
        replicates.append(metrics.probability_of_improvement(xs, ys))
    low, high = np.percentile(replicates, [2.5, 97.5])
    ours = probability_of_improvement(as_scores(x), as_scores(y), reps=20_000)
    assert ours.ci_low == pytest.approx(low, abs=0.03) and ours.ci_high == pytest.approx(high, abs=0.03)


def test_probability_of_improvement_over_seeds_that_differ_from_game_to_game() -> None:
    """Where rliable's matrices cannot hold the runs: each game's pairs, averaged over games."""
    x = {"Pong": [1.0, 2.0, 3.0], "Breakout": [7.0]}
    y = {"Pong": [2.0, 2.0], "Breakout": [1.0, 6.0, 5.0]}
    # Pong: 1 loses twice, 2 ties twice (1/2 each), 3 wins twice: 3/6. Breakout: 7 wins all three: 1.
    assert probability_of_improvement(x, y, reps=10).value == pytest.approx((0.5 + 1.0) / 2)


# -- a store of real runs: `ablate run --budget test`, 2 variants, catch and Pong, 3 seeds, the last job killed ------


@dataclass(frozen=True)
class Store:
    root: Path
    uri: str
    report: ReportResult


def build_report(uri: str, out: Path, baseline: str | None = None) -> ReportResult:
    return report_variants(
        VariantsRequest([], baseline=baseline, options=Options(tracking_uri=uri, out=out, reps=2_000))
    )


def experiment_id(client: MlflowClient) -> str:
    experiment = client.get_experiment_by_name("ablate")
    assert experiment is not None
    return experiment.experiment_id


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    assert ABLATE is not None, "the `ablate` console script is not installed (pip install -e .)"
    root = tmp_path_factory.mktemp("report")
    uri = f"sqlite:///{root}/mlflow.db"
    command = [ABLATE, "run", "jedi", "latent-8x4x4", "--games", "Pong,catch", "--seeds", "3", "--budget", "test"]
    process = subprocess.Popen(
        [*command, "--tracking-uri", uri], cwd=root, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    # The last job is killed outright (kill -9 of `ablate run`, which trains it in its own process) once it trains:
    # its run directory appears after its MLflow run is open. Watching files leaves the store to the runner alone.
    variant, game, seed = KILLED
    deadline = time.monotonic() + 240
    while not list((root / "runs" / "ablate" / variant / game).glob(f"seed{seed}-*/*/")):
        assert process.poll() is None, process.communicate()[1].decode()
        assert time.monotonic() < deadline, "the last job never started"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    return Store(root, uri, build_report(uri, root / "report"))


def finished_returns(uri: str) -> dict[tuple[str, str], list[float]]:
    """(variant, game) -> the final returns of its finished job runs, by seed: what the report must agree with."""
    client = MlflowClient(uri)
    experiment = experiment_id(client)
    found: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    for run in client.search_runs([experiment], "tags.`ablate.kind` = 'job' and attributes.status = 'FINISHED'"):
        tags = run.data.tags
        found[tags["ablate.variant"], tags["ablate.game"]].append(
            (int(tags["ablate.seed"]), run.data.metrics[FINAL_MEAN_RETURN])
        )
    return {key: [value for _, value in sorted(runs)] for key, runs in found.items()}


def read_csv(path: Path) -> dict[tuple[str, ...], dict[str, str]]:
    """A report CSV's rows by their first (text) cells: (game, variant) for games.csv, (variant,) otherwise."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    width = 2 if path.name in ("games.csv", "status.csv") else 1
    return {tuple(list(row.values())[:width]): row for row in rows}


def table(report: Report, name: str) -> Table:
    return next(t for t in report.tables if t.name == name)


@pytest.mark.slow
def test_report_tables_equal_values_recomputed_from_the_runs(store: Store) -> None:
    metrics = pytest.importorskip("rliable.metrics")
    runs = finished_returns(store.uri)
    assert len(runs[KILLED[:2]]) == 2 and len(runs["jedi", "catch"]) == 3  # the killed seed is no result
    out = store.root / "report"

    games = read_csv(out / "games.csv")
    for (variant, game), returns in runs.items():
        row = games[game, variant]
        assert int(row["runs"]) == len(returns)
        assert float(row["mean return"]) == pytest.approx(np.mean(returns))
        assert min(returns) <= float(row["mean return ci_low"]) <= float(row["mean return ci_high"]) <= max(returns)
        if game == "catch":
            assert row["HNS"] == ""
        else:
            assert float(row["HNS"]) == pytest.approx(hns(game, float(np.mean(returns))))
    diamond = games["Pong", "DIAMOND (published)"]  # a published baseline as an extra row, where it has the game
    assert float(diamond["mean return"]) == pytest.approx(np.mean(load_baseline("diamond")["Pong"]))
    assert ("catch", "DIAMOND (published)") not in games
    for game in ("catch", "Pong"):
        best = max(np.mean(runs[variant, game]) for variant in ("jedi", "latent-8x4x4"))
        shown = table(store.report.report, "games")
        bold = {shown.rows[i][1] for i, j in shown.bold if shown.rows[i][0] == game}
        assert bold == {v for v in ("jedi", "latent-8x4x4") if np.mean(runs[v, game]) == best}

    # Each variant's HNS over Pong, and return on catch, is a (runs x 1) matrix: rliable applies, although the
    # variants' seeds on catch differ in number.
    hns_rows = read_csv(out / "aggregates_hns.csv")
    raw_rows = read_csv(out / "aggregates_return.csv")
    for variant in ("jedi", "latent-8x4x4"):
        pong = np.array([[hns("Pong", r)] for r in runs[variant, "Pong"]])
        row = hns_rows[(variant,)]
        assert row["runs per game"] == "3"
        assert raw_rows[(variant,)]["runs per game"] == str(len(runs[variant, "catch"]))
        assert float(row["Mean HNS"]) == pytest.approx(metrics.aggregate_mean(pong))
        assert float(row["Median HNS"]) == pytest.approx(metrics.aggregate_median(pong))
        assert float(row["IQM HNS"]) == pytest.approx(metrics.aggregate_iqm(pong))
        assert float(row["Optimality gap"]) == pytest.approx(metrics.aggregate_optimality_gap(pong))
        catch = np.array([[r] for r in runs[variant, "catch"]])  # catch: raw return, never HNS
        assert float(raw_rows[(variant,)]["IQM return"]) == pytest.approx(metrics.aggregate_iqm(catch))
        for name in ("Mean HNS", "IQM HNS"):
            assert float(row[f"{name} ci_low"]) <= float(row[name]) <= float(row[f"{name} ci_high"])
    assert "Sym-HNS" not in hns_rows[("jedi",)]  # needs both halves of the benchmark

    # Against the baseline (jedi by default): rliable's probability of improvement, and the IQM difference.
    for scale, game, to_score in [("hns", "Pong", lambda r: hns("Pong", r)), ("return", "catch", float)]:
        x, y = (np.array([[to_score(r)] for r in runs[v, game]]) for v in ("latent-8x4x4", "jedi"))
        row = read_csv(out / f"baseline_{scale}.csv")[("latent-8x4x4",)]
        assert float(row["P(X > jedi)"]) == pytest.approx(metrics.probability_of_improvement(x, y))
        difference = next(value for key, value in row.items() if key.startswith("IQM(X) - IQM(jedi)"))
        assert float(difference) == pytest.approx(metrics.aggregate_iqm(x) - metrics.aggregate_iqm(y))

    # The same files, logged as a run named `report` in the experiment.
    client = MlflowClient(store.uri)
    experiment = experiment_id(client)
    logged = client.get_run(store.report.run_id)
    assert logged.info.run_name == "report" and logged.info.status == "FINISHED"
    assert logged.data.tags["ablate.kind"] == "report" and logged.info.experiment_id == experiment
    artifacts = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert artifacts == {path.name for path in store.report.files}
    assert {"report.md", "report.html", "report.tex", "curves.png", "improvement_hns.png"} <= artifacts
    tex = (out / "report.tex").read_text()
    assert r"\toprule" in tex and r"\mathbf{" in tex and r"\bottomrule" in tex


@pytest.mark.slow
def test_the_html_page_read_in_a_headless_browser(store: Store, tmp_path: Path) -> None:
    metrics = pytest.importorskip("rliable.metrics")
    page = store.root / "report" / "report.html"
    rendered = rendered_dom(page.as_uri(), tmp_path / "profile")
    dom = DomTables()
    dom.feed(rendered)
    runs = finished_returns(store.uri)

    header, *rows = dom.tables["games"]
    assert header == ["game", "variant", "runs", "mean return", "HNS"]
    shown = {(row[0], row[1]): row for row in rows}
    for (variant, game), returns in runs.items():
        _, _, n, mean, score = shown[game, variant]
        assert int(n) == len(returns)
        assert float(mean.split()[0]) == pytest.approx(np.mean(returns), abs=0.005)  # as shown: 2 decimals
        assert score == ("-" if game == "catch" else f"{hns(game, float(np.mean(returns))):.3f}")
    header, *rows = dom.tables["aggregates_hns"]
    iqm = {row[0]: row[header.index("IQM HNS")] for row in rows}
    for variant in ("jedi", "latent-8x4x4"):
        pong = np.array([[hns("Pong", r)] for r in runs[variant, "Pong"]])
        assert float(iqm[variant].split()[0]) == pytest.approx(metrics.aggregate_iqm(pong), abs=0.0005)

    # One self-contained page: every plot embedded, nothing fetched from anywhere.
    assert len(dom.images) == sum(path.suffix == ".png" for path in store.report.files) >= 5
    for src in dom.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.partition(",")[2]).startswith(b"\x89PNG")
    assert "<script" not in page.read_text() and "<link" not in page.read_text()


class DomTables(html.parser.HTMLParser):
    """The text of every table cell, by table id and row, and every image's source, of a rendered page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        elif tag == "img":
            self.images.append(dict(attrs).get("src") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table is not None and self._cell is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


@pytest.mark.slow
def test_the_status_after_a_job_is_killed_names_the_command_that_completes_it(store: Store) -> None:
    """Last in this module: it completes the killed job, which the other tests' recomputed values follow anyway."""
    status = read_csv(store.root / "report" / "status.csv")
    variant, game, seed = KILLED
    cell = status[variant, game]
    assert [cell[k] for k in ("asked", "finished", "running", "failed", "missing")] == ["3", "2", "0", "0", "1"]
    assert cell["incomplete seeds"] == f"{seed} (missing)"  # RUNNING in the store, but its owner is gone
    expected = (
        f"ablate run {variant} --games Pong,catch --seed-list 0,1,2 --budget test --experiment ablate "
        f"--tracking-uri {store.uri} --out {store.root / 'runs'} --resume"
    )
    assert cell["to complete"] == expected
    others = [row for key, row in status.items() if key != (variant, game)]
    assert len(others) == 3 and all(row["finished"] == row["asked"] == "3" and not row["to complete"] for row in others)
    assert table(store.report.report, "status").brief == [list(status).index((variant, game))]  # the terminal's rows

    done = subprocess.run(
        [str(ABLATE), *shlex.split(expected)[1:]], cwd=store.root, env=ENV, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    after = read_csv(build_report(store.uri, store.root / "after").files[0].parent / "status.csv")
    assert all(row["finished"] == "3" and not row["to complete"] for row in after.values())


# -- a study's trials, and the refusals: stores recorded through the tracking contract, without training -------------


RunState = Status | Literal["RUNNING"]
Jobs = dict[tuple[str, int], tuple[RunState, float | None]]  # (game, seed) -> (run status, final return or None)
PONG: Jobs = {("Pong", 0): ("FINISHED", -20.0), ("Pong", 1): ("FINISHED", -19.0)}


def record(
    tracker: Tracker,
    kind: Kind,
    variant: str,
    name: str,
    jobs: Jobs,
    *,
    status: RunState = "FINISHED",
    tags: dict[str, str] | None = None,
    prefix: str = "",
) -> str:
    """A parent run and its job runs as `ablate run` (or a study's trial) records them; every game is asked for with
    every seed."""
    games, seeds = list(dict.fromkeys(g for g, _ in jobs)), sorted({s for _, s in jobs})
    parent = tracker.start_run(name, {**parent_tags(kind, variant, games, seeds, "test", "c0ffee"), **(tags or {})})
    tracker.set_tags(parent, owner_tags())
    for (game, seed), (state, value) in jobs.items():
        own = job_tags(variant, game, seed, "test", "c0ffee")
        child = tracker.start_run(prefix + job_run_name(variant, game, seed), own, parent_run_id=parent)
        tracker.set_tags(child, owner_tags())
        if value is not None:
            tracker.log_metrics(child, {EVAL_RETURN: value - 0.5}, step=20)
            tracker.log_metrics(child, {EVAL_RETURN: value}, step=40)
            tracker.log_metrics(child, {FINAL_MEAN_RETURN: value}, step=40)
        if state != "RUNNING":
            tracker.end_run(child, state)
    if status != "RUNNING":
        tracker.end_run(parent, status)
    return parent


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store with a study `toy` of three trials and two variants: jedi finished, `broken` failed throughout."""
    root = tmp_path_factory.mktemp("recorded")
    uri = f"sqlite:///{root}/mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # the experiment's artifacts go under the working directory of the store's first opening
        tracker = Tracker.open("ablate", uri)
    trials: list[tuple[str, Jobs, RunState]] = [
        ("1", {("catch", 0): ("FINISHED", 0.2), ("catch", 1): ("FINISHED", 0.6), **PONG}, "FINISHED"),
        (
            "3",
            {("catch", 0): ("FINISHED", 0.6), ("catch", 1): ("FINISHED", 0.8), ("Pong", 0): ("FAILED", None)},
            "FAILED",
        ),
        ("5", {("catch", 0): ("RUNNING", None)}, "RUNNING"),
    ]
    for number, (steps, jobs, status) in enumerate(trials):
        tags = {TAG_STUDY: "toy", TAG_TRIAL: str(number), TAG_OVERRIDE + "sampler.num_steps": steps}
        record(tracker, "trial", "jedi", f"toy/trial{number}", jobs, status=status, tags=tags, prefix="toy/")
    record(
        tracker, "variant", "jedi", "jedi (test)", {("catch", 0): ("FINISHED", 1.0), ("catch", 1): ("FINISHED", 0.0)}
    )
    record(tracker, "variant", "broken", "broken (test)", {("catch", 0): ("FAILED", None)}, status="FAILED")
    return uri


def test_study_report_compares_the_trials_with_their_swept_values(
    recorded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["study", "report", "toy", "--tracking-uri", recorded, "--out", str(tmp_path), "--reps", "500"]) == 0
    out = capsys.readouterr().out
    assert "wrote " in out and "logged as MLflow run" in out
    status = read_csv(tmp_path / "status.csv")
    assert status["trial1 (num_steps=3)", "Pong"]["failed"] == "1"
    assert status["trial1 (num_steps=3)", "Pong"]["to complete"].startswith(
        "none: the study does not run a failed or pruned trial again"
    )
    assert status["trial2 (num_steps=5)", "catch"]["running"] == "1"  # its owner, this process, is alive
    assert status["trial0 (num_steps=1)", "Pong"]["to complete"] == ""

    # trial2 has nothing finished; trial1 nothing on Pong: the comparison is over catch, on raw return.
    assert not (tmp_path / "aggregates_hns.csv").exists()
    raw = read_csv(tmp_path / "aggregates_return.csv")
    assert set(raw) == {("trial0 (num_steps=1)",), ("trial1 (num_steps=3)",)}
    assert float(raw[("trial1 (num_steps=3)",)]["Mean return"]) == pytest.approx(0.7)
    (row,) = read_csv(tmp_path / "baseline_return.csv").values()  # against trial0, the first with finished runs
    expected = probability_of_improvement({"catch": [0.6, 0.8]}, {"catch": [0.2, 0.6]}, reps=500)
    assert float(row["P(X > trial0 (num_steps=1))"]) == pytest.approx(expected.value) == pytest.approx(0.875)
    assert float(row["P(X > trial0 (num_steps=1)) ci_low"]) == pytest.approx(expected.ci_low)
    markdown = (tmp_path / "report.md").read_text()
    assert "left out: Pong (no finished run of trial1 (num_steps=3))" in markdown
    assert "trial2 (num_steps=5): no finished run yet" in markdown

    client = MlflowClient(recorded)
    experiment = experiment_id(client)
    (logged,) = client.search_runs([experiment], "tags.`ablate.kind` = 'report' and tags.`optuna.study` = 'toy'")
    assert logged.info.run_name == "toy/report"


def test_trial_jobs_are_not_taken_for_the_variants_runs(recorded: str, tmp_path: Path) -> None:
    report = build_report(recorded, tmp_path, baseline="jedi").report
    # jedi's own parent ran catch seeds 0 and 1; the trials' jobs, of variant jedi too, are the study's.
    assert [row[:3] for row in table(report, "games").rows] == [["catch", "jedi", 2]]
    mean = table(report, "games").rows[0][3]
    assert isinstance(mean, Interval) and mean.value == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "stopgrad-bth"], "has no runs of variant 'stopgrad-bth'; it has: broken, jedi"),
        (["report", "--experiment", "ablat"], "no experiment 'ablat' in sqlite:///"),
        (["report", "broken"], "has no finished job runs to report"),
        (["report", "--baseline", "broken"], "--baseline broken: variant broken has no finished job runs"),
        (["report", "--published", "diamnd"], "--published: unknown baseline 'diamnd'"),
        (["report", "--games", "pongg"], "unknown game or set 'pongg' (did you mean 'Pong'?)"),
        (["report", "--games", "Pong"], "has no finished job runs on Pong"),
        (["report", "--reps", "0"], "--reps must be at least 1"),
        (["study", "report", "tyo"], "no trials of study 'tyo' in experiment 'ablate' of sqlite:///"),
        (["study", "report", "toy", "--baseline", "2"], "--baseline 2: trial 2 has no finished job runs"),
        (["study", "report", "toy", "--baseline", "7"], "study 'toy' has no trial 7; it has: 0, 1, 2"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    recorded: str, tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = MlflowClient(recorded)
    before = len(client.search_runs([e.experiment_id for e in client.search_experiments()]))
    assert main([*args, "--tracking-uri", recorded, "--out", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "report").exists()
    assert len(client.search_runs([e.experiment_id for e in client.search_experiments()])) == before


def test_a_store_that_does_not_exist_is_refused_and_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.startswith(f"error: no MLflow store at {tmp_path}/mlflow.db")
    assert list(tmp_path.iterdir()) == []
