"""The catch diagnostics (tools/catch/) still run against the trainer's current interfaces (tiny `test` budget)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CATCH_TOOLS = Path(__file__).resolve().parent.parent / "tools" / "catch"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "args", "last_line"),
    [
        ("oracle_reward.py", ["--budget", "test"], "final: mean return"),
        ("exact_dynamics.py", ["--budget", "test", "--updates", "2", "--every", "1"], "update     2"),
        ("world_model.py", ["--budget", "test", "--steps", "2", "--every", "1"], "step     2"),
    ],
)
def test_catch_tool_runs(script: str, args: list[str], last_line: str) -> None:
    done = subprocess.run(
        [sys.executable, str(CATCH_TOOLS / script), *args], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1].startswith(last_line)


@pytest.mark.slow
def test_catch_diagnosis_reads_a_run(tmp_path: Path) -> None:
    from ablate.config import resolve_config
    from ablate.jedi.trainer import train

    train(resolve_config("test", {}), "catch", 0, tmp_path / "run", device="cpu", progress=False)
    args = [str(tmp_path / "run"), "--episodes", "4", "--sequences", "8"]
    done = subprocess.run(
        [sys.executable, str(CATCH_TOOLS / "diagnosis.py"), *args], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("footprint: latent RMS")
    assert [line.split(":")[0].strip() for line in lines[-5:]] == [f"column {c}" for c in range(5)]


@pytest.mark.slow
def test_catch_diagnosis_refuses_a_directory_without_a_run(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(CATCH_TOOLS / "diagnosis.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "holds no checkpoint.pt" in done.stderr
