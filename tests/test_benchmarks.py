"""The benchmark scripts still run against the trainer's current interfaces (tiny `test` budget)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "args", "last_line"),
    [
        ("catch_oracle_reward.py", ["--budget", "test"], "final: mean return"),
        ("catch_exact_dynamics.py", ["--budget", "test", "--updates", "2", "--every", "1"], "update     2"),
        ("catch_world_model.py", ["--budget", "test", "--steps", "2", "--every", "1"], "step     2"),
    ],
)
def test_catch_benchmark_runs(script: str, args: list[str], last_line: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True, timeout=240
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
        [sys.executable, str(BENCHMARKS / "catch_diagnosis.py"), *args], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("footprint: latent RMS")
    assert [line.split(":")[0].strip() for line in lines[-5:]] == [f"column {c}" for c in range(5)]


def test_catch_diagnosis_refuses_a_directory_without_a_run(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "catch_diagnosis.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "holds no checkpoint.pt" in done.stderr


@pytest.mark.slow
def test_efficiency_quick_prints_jedi_and_pixel_side_by_side(tmp_path: Path) -> None:
    report = tmp_path / "efficiency.json"
    args = [str(BENCHMARKS / "efficiency.py"), "--quick", "--device", "cpu", "--json", str(report)]
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("device: cpu (") and lines[1].startswith("python ") and "torch " in lines[1]
    header = next(line for line in lines if line.startswith("figure"))
    assert header.split() == ["figure", "JEDI", "pixel", "JEDI/pixel", "paper's", "ratio"]
    for figure in ("world-model training", "imagination", "reward-model training", "actor-critic training"):
        assert any(line.startswith(f"{figure} (steps/s)") for line in lines), figure
    assert any(line.startswith("paper-budget run (hours)") and "38 vs 98" in line for line in lines)
    saved = json.loads(report.read_text())
    assert {row["key"] for row in saved["figures"]} >= {"world_model", "imagination", "hours", "imagination_memory"}
    assert all(row["JEDI"] >= 0 and row["pixel"] >= 0 for row in saved["figures"])  # measured, whatever the values
    assert saved["timings"]["pixel"]["world_model"]["parameters"]["denoiser"] > 0
