"""JEDI against DIAMOND (the `pixel` variant), side by side on one device: speed and memory beside the papers' ratios.

    python benchmarks/efficiency.py                          # the paper's sizes (atari100k): <= 10 min on 2 CPU cores
    python benchmarks/efficiency.py --quick                  # `test` sizes, batch 8, horizon 5, fewer timings: < 2 min
    python benchmarks/efficiency.py --device cuda --json runs/efficiency.json
    python benchmarks/efficiency.py --set training.cuda_graphs=false   # any config field, for both agents

Both agents are the shipped variants `jedi` and `pixel` as `ablate run` trains them, built by the trainer for Pong
(6 actions) over a replay of random frames, with the same batch (32), horizon (15) and sampler (3 Euler steps).
Each component is measured in a fresh (spawned) process that measures nothing else: after a warm-up step, the
median of repeated timings of one gradient step (the trainer's own, optimiser included), `--repeats` of them or
as many as fit in `--budget-s` seconds, at least one. Imagination is timed inside the actor-critic's steps, as it
runs there: each rollout of `horizon` imagined steps of the whole batch, from the burn-in on the real context,
the policy and the reward model included. Peak memory of the timed steps (of the first rollout): on CUDA
`torch.cuda.max_memory_allocated`, on the CPU the process's peak resident set (`ru_maxrss`, reset before them);
both in full and above what was resident once set up (before warm-up).

From the medians: one epoch of 400 + 400 + 400 gradient steps, and a paper-budget run (DIAMOND's schedule of
1,000 epochs, the first with 10k + 10k + 5k steps) in hours, with JEDI's replay encoding once an epoch (of the
replay as it grows); collection and evaluation are not counted. Timings are reported, never asserted. The
JSON (`--json`) holds every figure of the table and every timing it was computed from.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch
from trainer import fill_replay, synchronize  # benchmarks/trainer.py

from ablate.config import Config, parse_set_options
from ablate.jedi.actor_critic import ActorCritic, Trajectory
from ablate.jedi.agent import parameter_counts
from ablate.jedi.device import resolve_device
from ablate.jedi.trainer import Trainer, total_epochs
from ablate.jedi.work import GRADIENT_KINDS, scheduled
from ablate.variants import load_variants, resolve_variant

GAME = "Pong"
AGENTS = {"JEDI": "jedi", "pixel": "pixel"}
# The same batch and horizon for both: the paper's, or for --quick what keeps it within 2 minutes on 2 CPU cores.
SAME_FOR_BOTH = {
    quick: {"training.batch_size": batch, "training.actor_critic_batch_size": batch, "actor_critic.horizon": horizon}
    for quick, batch, horizon in ((False, 32, 15), (True, 8, 5))
}
# The papers' JEDI/DIAMOND ratios (JEDI.md section 5), in the direction of each figure's own ratio.
PAPER = {
    "world_model": "2.5 (training)",
    "imagination": ">3 (sampling)",
    "epoch": "0.39 (38/98 h)",
    "hours": "0.39 (38 vs 98 A100-h)",
    "memory": "0.57 (43% less VRAM)",
}
MIB = 2**20
PROTOCOL = Config()  # the paper's schedule, whose epochs and run the timings are scaled to (at --quick's sizes too)


@dataclass(frozen=True)
class Measurement:
    """What one child process measures: one component of one agent."""

    config: Config
    component: str  # one of GRADIENT_KINDS
    device: str
    repeats: int
    budget_s: float
    replay_steps: int


class Memory:
    """The peak memory of the steps after `restart()`: in full, and above what was resident when this was made.

    CUDA: the allocated tensors (`torch.cuda.max_memory_allocated`). CPU: the resident set (`ru_maxrss`), whose
    high-water mark Linux resets through /proc/self/clear_refs; where it cannot, the peak counts from the
    process's start (`peak_reset` false).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.base = torch.cuda.memory_allocated(device) if device.type == "cuda" else psutil.Process().memory_info().rss
        self.reset = True

    def restart(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        try:
            Path("/proc/self/clear_refs").write_text("5")  # 5: the peak resident set becomes the current one
        except OSError:
            self.reset = False

    def peak(self) -> dict[str, Any]:
        if self.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(self.device)
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        return {"peak_mib": peak / MIB, "above_setup_mib": (peak - self.base) / MIB, "peak_reset": self.reset}


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    synchronize(device)
    started = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - started


def _repeat(fn: Callable[[], object], m: Measurement, device: torch.device) -> list[float]:
    """Timings of `fn`: `repeats` of them, or as many as fit in the budget, at least one."""
    times: list[float] = []
    while len(times) < m.repeats and (not times or sum(times) + statistics.median(times) <= m.budget_s):
        times.append(_timed(fn, device))
    return times


def measure(m: Measurement) -> dict[str, Any]:
    """Runs in a process of its own: the timings and peak memory of one component's gradient steps."""
    device = torch.device(m.device)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(m.config, GAME, 0, Path(tmp), device, callback=None, progress=False)
        fill_replay(trainer, m.replay_steps)
        trainer.agent.train()
        step_fn = {
            "world_model": trainer.world_model_step,
            "reward_end": trainer.reward_end_step,
            "actor_critic": trainer.actor_critic_step,
        }[m.component]
        after = trainer.agent.world_model.after_step if m.component == "world_model" else None

        def step() -> None:
            trainer.train_component(m.component, 1, step_fn, after)

        result: dict[str, Any] = {"parameters": parameter_counts(trainer.agent)}
        if m.component != "actor_critic":
            memory = Memory(device)
            step()  # warm-up
            memory.restart()
            result["seconds"] = _repeat(step, m, device)
            return result | memory.peak()
        # As in an epoch, the actor-critic trains on a replay encoded once (JEDI; in pixel space nothing is encoded).
        trainer.encode_replay()  # warm-up
        result["encode_s_per_frame"] = _timed(trainer.encode_replay, device) / trainer.replay.size
        memory = Memory(device)
        # The warm-up imagines a single step: every shape of the timed steps, at a fraction of their cost.
        horizon, trainer.imagination.horizon = trainer.imagination.horizon, 1
        step()
        trainer.imagination.horizon = horizon
        rollouts: list[dict[str, Any]] = []
        rollout = trainer.imagination.rollout

        def timed_rollout(actor_critic: ActorCritic, latents: torch.Tensor, actions: torch.Tensor) -> Trajectory:
            memory.restart()
            synchronize(device)
            started = time.perf_counter()
            trajectory = rollout(actor_critic, latents, actions)
            synchronize(device)
            rollouts.append({"seconds": time.perf_counter() - started, **memory.peak()})
            return trajectory

        trainer.imagination.rollout = timed_rollout  # type: ignore[method-assign]
        result["seconds"] = _repeat(step, m, device)
        # The first rollout's peak: where the CPU's cannot be reset, a later one's would include backward passes.
        first = rollouts[0]
        return result | {
            "rollout_seconds": [r["seconds"] for r in rollouts],
            "rollout_peak_mib": first["peak_mib"],
            "rollout_above_setup_mib": first["above_setup_mib"],
            "peak_reset": first["peak_reset"],
        }


def measure_apart(m: Measurement) -> dict[str, Any]:
    """`measure` in a fresh process, so that its peak memory is that of this measurement alone."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(measure, m).result()


def run_hours(seconds: dict[str, float], encode_s_per_frame: float) -> float:
    """A paper-budget run's gradient steps at these per-step times, plus one replay encoding an epoch (the replay
    growing from the first collection to the budget); collection and evaluation are not counted."""
    tr = PROTOCOL.training
    epochs = total_epochs(PROTOCOL, tr.initial_steps_min)
    steps = scheduled(PROTOCOL, epochs, epochs, tr.total_env_steps)
    grown = (min(tr.total_env_steps, tr.initial_steps_min + e * tr.env_steps_per_epoch) for e in range(1, epochs + 1))
    return (sum(steps[k] * seconds[k] for k in GRADIENT_KINDS) + sum(grown) * encode_s_per_frame) / 3600


def figures(configs: dict[str, Config], raw: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The table's rows: figure, unit, JEDI's and pixel's values, their ratio, the papers'."""
    tr = PROTOCOL.training
    values: dict[str, dict[str, float]] = {}
    for agent, config in configs.items():
        r = raw[agent]
        s = {k: statistics.median(r[k]["seconds"]) for k in GRADIENT_KINDS}
        epoch = tr.world_model_steps * s["world_model"] + tr.reward_end_steps * s["reward_end"]
        values[agent] = {
            "world_model": 1 / s["world_model"],
            "imagination": config.actor_critic.horizon / statistics.median(r["actor_critic"]["rollout_seconds"]),
            "reward_end": 1 / s["reward_end"],
            "actor_critic": 1 / s["actor_critic"],
            "epoch": epoch + tr.actor_critic_steps * s["actor_critic"],
            "hours": run_hours(s, r["actor_critic"]["encode_s_per_frame"]),
            "world_model_memory": r["world_model"]["peak_mib"],
            "world_model_memory_step": r["world_model"]["above_setup_mib"],
            "imagination_memory": r["actor_critic"]["rollout_peak_mib"],
            "imagination_memory_step": r["actor_critic"]["rollout_above_setup_mib"],
        }
    epoch = f"epoch of {tr.world_model_steps} + {tr.reward_end_steps} + {tr.actor_critic_steps} steps"
    rows = [
        ("world_model", "world-model training", "steps/s", PAPER["world_model"]),
        ("imagination", "imagination", "steps/s", PAPER["imagination"]),
        ("reward_end", "reward-model training", "steps/s", "-"),
        ("actor_critic", "actor-critic training", "steps/s", "-"),
        ("epoch", epoch, "s", PAPER["epoch"]),
        ("hours", "paper-budget run", "hours", PAPER["hours"]),
        ("world_model_memory", "peak memory, world-model step", "MiB", PAPER["memory"]),
        ("world_model_memory_step", "  above the set-up", "MiB", PAPER["memory"]),
        ("imagination_memory", "peak memory, imagination rollout", "MiB", PAPER["memory"]),
        ("imagination_memory_step", "  above the set-up", "MiB", PAPER["memory"]),
    ]
    jedi, pixel = values["JEDI"], values["pixel"]
    return [
        {
            "key": key,
            "figure": label,
            "unit": unit,
            "JEDI": jedi[key],
            "pixel": pixel[key],
            "ratio": jedi[key] / pixel[key] if pixel[key] else float("nan"),
            "paper": paper,
        }
        for key, label, unit, paper in rows
    ]


def machine(device: torch.device) -> dict[str, Any]:
    """The device's name and the versions the figures were measured with."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        cpuinfo = Path("/proc/cpuinfo")
        lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
        models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
        name = models[0] if models else platform.processor() or platform.machine()
    return {
        "device": str(device),
        "name": name,
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def _number(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def print_table(rows: list[dict[str, Any]]) -> None:
    header = ("figure", "JEDI", "pixel", "JEDI/pixel", "paper's ratio")
    cells = [header] + [
        (
            f"{r['figure']} ({r['unit']})",
            _number(r["JEDI"]),
            _number(r["pixel"]),
            f"{r['ratio']:.2f}",
            r["paper"],
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for i, (label, *values) in enumerate(cells):
        print("  ".join([label.ljust(widths[0]), *(v.rjust(w) for v, w in zip(values, widths[1:], strict=True))]))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the test budget's sizes and fewer timings (< 2 min)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--json", type=Path, default=Path("efficiency.json"), help="where the figures are written")
    parser.add_argument("--repeats", type=int, help="timings per component at most (default 5; --quick 2)")
    parser.add_argument("--budget-s", type=float, help="seconds of timings per component (default 40; --quick 5)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    args = parser.parse_args()
    device = resolve_device(args.device)
    budget = "test" if args.quick else "atari100k"
    repeats = args.repeats or (2 if args.quick else 5)
    budget_s = args.budget_s or (5.0 if args.quick else 40.0)
    replay_steps = 500 if args.quick else 1_000
    info = machine(device)
    print(f"device: {info['device']} ({info['name']}), {info['cpu_cores']} CPU cores, {info['memory_gib']} GiB")
    print(f"python {info['python']}, torch {info['torch']} ({info['torch_threads']} threads), CUDA {info['cuda']}")
    registry = load_variants()
    overrides = SAME_FOR_BOTH[args.quick] | parse_set_options(args.set)
    configs = {agent: resolve_variant(name, registry, budget, overrides) for agent, name in AGENTS.items()}
    jedi = configs["JEDI"]
    sizes = (
        f"batch {jedi.training.batch_size}, horizon {jedi.actor_critic.horizon}, {jedi.sampler.num_steps} Euler steps"
    )
    print(f"sizes: the {budget} budget's; {GAME}, {sizes}", flush=True)
    started = time.perf_counter()
    raw: dict[str, dict[str, dict[str, Any]]] = {agent: {} for agent in configs}
    for agent, config in configs.items():
        for component in GRADIENT_KINDS:
            m = Measurement(config, component, str(device), repeats, budget_s, replay_steps)
            raw[agent][component] = measure_apart(m)
            timings = len(raw[agent][component]["seconds"])
            print(f"  {agent} {component}: {timings} timing(s), {time.perf_counter() - started:.0f} s", flush=True)
        counts = raw[agent]["world_model"]["parameters"]
        print(f"{agent} parameters: {', '.join(f'{k} {v / 1e6:.2f}M' for k, v in counts.items())}", flush=True)
    rows = figures(configs, raw)
    print()
    print_table(rows)
    unrolled = {agent: config.world_model.unroll_steps for agent, config in configs.items()}
    print(
        f"\na world-model step trains JEDI's encoder and denoiser over {unrolled['JEDI']} unrolled step(s), the pixel"
        f" agent's denoiser over {unrolled['pixel']} (each as published); a run's hours count its gradient steps and"
        " JEDI's replay encoding, not collection or evaluation; CPU memory is a process's whole resident set"
    )
    if not all(r["peak_reset"] for components in raw.values() for r in components.values()):
        print("the CPU's peak resident set could not be reset here: peaks count from each process's start")
    print(f"\nmeasured in {time.perf_counter() - started:.0f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {"machine": info, "budget": budget, "game": GAME, "figures": rows, "timings": raw}
    report["configs"] = {agent: config.to_dict() for agent, config in configs.items()}
    args.json.write_text(json.dumps(report, indent=2))
    print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
