"""The benchmark scripts run against the trainer's current interfaces and print their figures (tiny sizes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


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
