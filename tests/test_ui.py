"""`ablate ui`: the runs table of a real store in MLflow 3's model-training view, read in a headless browser; a second
`ablate ui` on the store and a busy or impossible port refused in one line."""

from __future__ import annotations

import html.parser
import os
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest
from conftest import ABLATE, BROWSER, rendered_dom
from mlflow import MlflowClient

from ablate.cli.main import main
from ablate.tracking import EXPERIMENT_TAGS, FINAL_MEAN_RETURN, TAG_BUDGET, TAG_DESCRIPTION, TAG_EXPERIMENT_KIND
from ablate.variants import get_variant, load_variants


def _env(tmp_path: Path) -> dict[str, str]:
    """No tracking URI from outside; `ablate ui`'s record and its server's log in the test's own temporary dir."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return env | {"OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path / "tmp")}


@pytest.mark.slow
def test_ablate_ui_opens_the_runs_table_and_names_itself_to_a_second_one(tmp_path: Path) -> None:
    if BROWSER is None:  # before the run and the server it would otherwise start for nothing
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    assert ABLATE is not None
    uri, env = f"sqlite:///{tmp_path}/mlflow.db", _env(tmp_path)
    command = [ABLATE, "run", "jedi", "--games", "catch", "--budget", "test", "--tracking-uri", uri]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("ablate")
    assert experiment is not None and experiment.tags.items() >= EXPERIMENT_TAGS.items()  # tagged when created
    for key in EXPERIMENT_TAGS:  # as an experiment made before `ablate` tagged them: `ablate ui` tags it
        client.delete_experiment_tag(experiment.experiment_id, key)
    description = get_variant("jedi", load_variants()).description

    # A session of its own, so that the signal below reaches `ablate ui` alone, which stops its server.
    ui = subprocess.Popen(
        [ABLATE, "ui", "--tracking-uri", uri],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert ui.stdout is not None
        line = ui.stdout.readline()
        url = line.split()[2]
        assert line == f"MLflow UI: {url}  (Ctrl-C to stop)\n"
        base, _, route = url.partition("/#/")
        assert (
            route
            == f"experiments/{experiment.experiment_id}/runs?workflowType=machine_learning&viewStateShareKey=ablate"
        )
        with urllib.request.urlopen(f"{base}/health", timeout=5) as response:  # printed once the server answers
            assert response.status == 200
        tags = client.get_experiment(experiment.experiment_id).tags
        assert tags[TAG_EXPERIMENT_KIND] == "custom_model_development"

        # The UI renders in the browser (React): virtual time lets it fetch the runs and draw the table.
        page = rendered_dom(url, tmp_path / "profile", "--virtual-time-budget=15000", "--window-size=1600,1000")
        dom = GridCells()
        dom.feed(page)
        assert "Observability" not in dom.text  # the GenAI pages' first entry: this is the model-training view
        (row,) = dom.rows.values()  # the variant's parent run; its child run is folded under it
        columns = [column for column, _ in row]
        cells = dict(row)
        assert cells["attributes.`Run Name`"].endswith("jedi (test)")  # after the run's colour (its hex code)
        # Right after the run's name and start time (pinned, the last of them `Created`): score, budget, description.
        after_created = columns[columns.index("runDateAndNestInfo") + 1 :]
        assert after_created[:3] == [
            f"metrics.`{FINAL_MEAN_RETURN}`",
            f"tags.`{TAG_BUDGET}`",
            "attributes.`Description`",
        ]
        (parent,) = client.search_runs([experiment.experiment_id], "tags.`ablate.kind` = 'variant'")
        assert float(cells[f"metrics.`{FINAL_MEAN_RETURN}`"]) == pytest.approx(
            parent.data.metrics[FINAL_MEAN_RETURN], abs=0.01
        )
        assert cells[f"tags.`{TAG_BUDGET}`"] == "test"
        assert parent.data.tags[TAG_DESCRIPTION] == description
        shown = cells["attributes.`Description`"]  # its start: the table cuts a long one with "..."
        assert len(shown) > 20 and description.startswith(shown.removesuffix("..."))

        second = subprocess.run(
            [ABLATE, "ui", "--tracking-uri", uri], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert second.returncode == 2 and second.stdout == ""
        assert second.stderr == (
            f"error: `ablate ui` (pid {ui.pid}) is already serving {uri} at {url}; open that, or stop it first\n"
        )
    finally:
        # SIGTERM, which `ablate ui` handles as Ctrl-C: a SIGINT would be ignored where the suite itself was
        # started in the background, as a shell starts background jobs.
        os.killpg(ui.pid, signal.SIGTERM)
        out, err = ui.communicate(timeout=60)
    assert ui.returncode == 0
    assert out == "" and err == ""  # nothing after the address: MLflow's access log and chatter stay in its log
    assert not list((tmp_path / "tmp").glob("ablate-ui-*.json"))  # the record of the serving UI went with it


@pytest.mark.parametrize("port", [0, 70000, "busy"])
def test_a_busy_or_impossible_port_is_one_line_and_nothing_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], port: int | str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with socket.socket() as other:  # another program's server
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        assert main(["ui", "--port", str(taken if port == "busy" else port)]) == 2
    err = capsys.readouterr().err
    if port == "busy":
        assert err.startswith(f"error: --port {taken}: cannot listen on 127.0.0.1:{taken} (Address already in use);")
    else:
        assert err == f"error: --port must be between 1 and 65535, got {port}\n"
    assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # no store was created


class GridCells(html.parser.HTMLParser):
    """The text of every cell of the runs table (an ag-grid) by row and column id, in page order; the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[tuple[str, str]]] = {}
        self.text = ""
        self._row = ""
        self._cell: tuple[str, list[str]] | None = None
        self._depth = 0  # of <div> inside the current cell

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if self._cell is not None:
            self._depth += tag == "div"
        elif attributes.get("role") == "row" and attributes.get("row-index") is not None:
            self._row = attributes["row-index"] or ""
        elif attributes.get("role") == "gridcell" and attributes.get("col-id"):
            self._cell, self._depth = (attributes["col-id"] or "", []), 0

    def handle_endtag(self, tag: str) -> None:
        if self._cell is None or tag != "div":
            return
        if self._depth:
            self._depth -= 1
            return
        column, text = self._cell
        self.rows.setdefault(self._row, []).append((column, " ".join("".join(text).split())))
        self._cell = None

    def handle_data(self, data: str) -> None:
        self.text += data
        if self._cell is not None:
            self._cell[1].append(data)
