"""The catch benchmark scripts still run against the trainer's current interfaces (tiny `test` budget)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize(
    ("script", "args", "last_line"),
    [
        ("catch_oracle_reward.py", ["--budget", "test"], "final: mean return"),
        ("catch_exact_dynamics.py", ["--budget", "test", "--updates", "2", "--every", "1"], "update     2"),
        ("catch_world_model.py", ["--budget", "test", "--steps", "2", "--every", "1"], "step     2"),
    ],
)
def test_catch_benchmark_runs(script: str, args: list[str], last_line: str) -> None:
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1].startswith(last_line)
