"""What a training run writes and hands back: its files' names, its per-epoch report, its result and its failure.

Plain data with no torch, so that tracking, reports and the command line read runs without loading the trainer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

CHECKPOINT = "checkpoint.pt"
RESULT = "result.json"
CONFIG = "config.json"
METRICS = "metrics.jsonl"


@dataclass
class EpochReport:
    epoch: int
    env_steps: int
    metrics: dict[str, float]  # diagnostics; on evaluation epochs also "eval/return"
    total_epochs: int = 0  # the schedule's length, known once the first collection is done
    resumed_from: int = 0  # the checkpoint's epoch when this run was resumed, else 0


@dataclass
class RunResult:
    game: str
    seed: int
    env_steps: int
    eval_returns: list[float]
    mean_return: float
    hns: float | None
    wall_s: float
    epochs: int = 0
    device: str = "cpu"

    def to_dict(self) -> dict:
        return asdict(self)


class TrainingError(RuntimeError):
    """A run that cannot go on (e.g. a non-finite loss); the last good checkpoint stays on disk."""
