"""Trainer throughput on the current device: prints figures, asserts nothing.

    python benchmarks/trainer.py                      # default JEDI sizes, component rates + parameters
    python benchmarks/trainer.py --smoke catch Pong   # also the wall time of the `smoke` budget per game
    python benchmarks/trainer.py --set training.cuda_graphs=false   # any config field, as `ablate train --set`
    python benchmarks/trainer.py --budget smoke        # component rates at a budget's sizes

Figures: world-model, reward-model and actor-critic gradient steps per second (batch 32), imagination
steps per second (batch 32, horizon 15, 3 denoising steps: one step = one imagined transition of the
whole batch), and the trainable parameter count per component (JEDI's published total is 13.5M).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ablate.config import parse_set_options, resolve_config
from ablate.jedi.agent import parameter_counts
from ablate.jedi.device import resolve_device
from ablate.jedi.trainer import Trainer, train


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fill_replay(trainer: Trainer, steps: int) -> None:
    """One episode of `steps` random frames and actions, a reward every 50 steps."""
    rng = np.random.default_rng(0)
    trainer.replay.start_episode(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    for t in range(steps):
        frame = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
        trainer.replay.add_step(int(rng.integers(trainer.num_actions)), float(t % 50 == 0), False, frame)


def _rate(fn, steps: int, device: torch.device) -> float:
    fn()  # warm-up (and compilation when enabled)
    synchronize(device)
    started = time.perf_counter()
    for _ in range(steps):
        fn()
    synchronize(device)
    return steps / (time.perf_counter() - started)


def component_rates(device: torch.device, steps: int, budget: str, overrides: dict[str, str]) -> None:
    config = resolve_config(budget, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, "Pong", 0, Path(tmp), device, callback=None, progress=False)
        fill_replay(trainer, 2_000)
        for name, count in parameter_counts(trainer.agent).items():
            print(f"parameters {name:>13}: {count / 1e6:6.2f}M")
        trainer.agent.train()
        tr = config.training
        for name, step_fn, after, batch in (
            ("world_model", trainer.world_model_step, trainer.agent.world_model.after_step, tr.batch_size),
            ("reward_end", trainer.reward_end_step, None, tr.batch_size),
            ("actor_critic", trainer.actor_critic_step, None, tr.actor_critic_batch_size),
        ):
            if name == "reward_end":  # as in an epoch: the world model is done, the replay is encoded once
                rate = _rate(trainer.encode_replay, 1, device)
                print(f"replay encoding: {1 / rate:8.2f} s per epoch ({trainer.replay.size} frames)")
            rate = _rate(lambda n=name, f=step_fn, a=after: trainer.train_component(n, 1, f, a), steps, device)
            print(f"{name:>13} training: {rate:8.2f} gradient steps/s (batch {batch})")
        batch = tr.actor_critic_batch_size
        start = trainer.imagination_start()

        def imagine() -> None:
            with torch.no_grad(), trainer.autocast():
                trainer.imagination.rollout(trainer.agent.actor_critic, *start)

        rate = _rate(imagine, max(1, steps // 4), device) * config.actor_critic.horizon
        horizon, denoising = config.actor_critic.horizon, config.sampler.num_steps
        print(f"  imagination: {rate:8.1f} steps/s (batch {batch}, horizon {horizon}, {denoising} denoising steps)")


def smoke_wall_times(games: list[str], device: str, overrides: dict[str, str]) -> None:
    for game in games:
        with tempfile.TemporaryDirectory() as tmp:
            result = train(resolve_config("smoke", overrides), game, 0, Path(tmp), device=device, progress=False)
        print(f"smoke {game:>10}: {result.wall_s:7.1f} s wall, mean return {result.mean_return:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=10, help="timed gradient steps per component")
    parser.add_argument("--budget", default="atari100k", help="the budget whose sizes the component rates use")
    parser.add_argument("--compile", action="store_true", help="torch.compile the denoiser and actor-critic")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    parser.add_argument("--smoke", nargs="*", default=[], metavar="GAME", help="games to time the smoke budget on")
    args = parser.parse_args()
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"device: {device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    overrides = {"training.compile": args.compile} | parse_set_options(args.set)
    component_rates(device, args.steps, args.budget, overrides)
    smoke_wall_times(args.smoke, args.device, overrides)


if __name__ == "__main__":
    main()
