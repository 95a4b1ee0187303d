"""Does the world model learn what an action does? A diagnostic on catch: prints figures, asserts nothing.

    python benchmarks/catch_world_model.py                                   # smoke sizes, 500 steps
    python benchmarks/catch_world_model.py --set denoiser.noise_loc=-0.4     # DIAMOND's training noise
    python benchmarks/catch_world_model.py --set world_model.predictor=mse --steps 300

Fills a replay buffer with 1,000 random-policy steps of catch, then trains only the world model
(encoder + denoiser, the trainer's own loss and optimiser) and, every `--every` steps, samples the
next latent of 256 held-out transitions under each of the 3 actions with the imagination sampler:
- `action_acc`: how often the action actually taken is the one whose sample lies closest to the
  encoded real next frame (1/3 when the prediction ignores the action);
- `error` / `copy`: squared error of the sample under the taken action, and of simply repeating the
  last latent (a world model worth having beats copying);
- `latent_std`: the encoder's per-dimension spread across the batch (collapse shows as a fall).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ablate.config import parse_set_options, resolve_config
from ablate.envs import make_env
from ablate.errors import UsageError
from ablate.jedi.replay import ReplayBuffer, Segment
from ablate.jedi.sampler import EulerSampler
from ablate.jedi.trainer import Agent, build_optimisers
from ablate.jedi.world_model import WorldModel

ACTIONS = 3  # catch: left, stay, right


def random_replay(directory: Path, steps: int, seed: int) -> ReplayBuffer:
    rng = np.random.default_rng(seed)
    env = make_env("catch", seed, train=True, max_episode_steps=1_000)
    replay = ReplayBuffer(directory)
    obs, _ = env.reset(seed=seed)
    replay.start_episode(obs)
    for _ in range(steps):
        action = int(rng.integers(ACTIONS))
        obs, reward, terminated, truncated, _ = env.step(action)
        replay.add_step(action, float(reward), terminated, obs)
        if terminated or truncated:
            replay.end_episode()
            obs, _ = env.reset()
            replay.start_episode(obs)
    return replay


@torch.no_grad()
def action_figures(world_model: WorldModel, sampler: EulerSampler, held_out: Segment, n: int) -> dict[str, float]:
    world_model.eval()
    z = world_model.encode(held_out.frames)
    actions, target = held_out.actions, z[:, n]
    errors = []
    for action in range(ACTIONS):
        conditioning_actions = actions[:, :n].clone()
        conditioning_actions[:, -1] = action
        torch.manual_seed(0)  # the same sampler noise for every action: only the action differs
        errors.append((sampler.sample(z[:, :n], conditioning_actions) - target).flatten(1).pow(2).mean(1))
    errors_per_action = torch.stack(errors, 1)
    taken = actions[:, n - 1 : n]
    world_model.train()
    return {
        "action_acc": (errors_per_action.argmin(1) == taken[:, 0]).float().mean().item(),
        "error": errors_per_action.gather(1, taken).mean().item(),
        "copy": (z[:, n - 1] - target).flatten(1).pow(2).mean().item(),
        "latent_std": z.flatten(0, 1).flatten(1).std(0).mean().item(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", default="smoke")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--steps", type=int, default=500, help="world-model gradient steps")
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    try:
        config = resolve_config(args.budget, parse_set_options(args.overrides))
    except UsageError as error:
        parser.error(str(error))
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    device = torch.device("cpu")
    wm_cfg = config.world_model
    n = wm_cfg.num_conditioning
    with tempfile.TemporaryDirectory() as tmp:
        replay = random_replay(Path(tmp), 1_000, args.seed)
        held_out = replay.sample(256, n + 1, 0, np.random.default_rng(10_000 + args.seed), device)
        complete = held_out.mask.all(1)  # transitions with all n + 1 frames inside one episode
        held_out = Segment(**{name: value[complete] for name, value in vars(held_out).items()})
        agent = Agent(config, ACTIONS)
        optimiser = build_optimisers(agent, config)["world_model"]
        world_model = agent.world_model
        sampler = EulerSampler(world_model.denoiser, config.sampler)
        started = time.perf_counter()
        for step in range(args.steps + 1):
            if step % args.every == 0 or step == args.steps:
                figures = action_figures(world_model, sampler, held_out, n)
                print(
                    f"step {step:5d}  " + "  ".join(f"{k} {v:.4g}" for k, v in figures.items())
                    + f"  ({time.perf_counter() - started:.0f} s)",
                    flush=True,
                )
            if step == args.steps:
                break
            segment = replay.sample(config.training.batch_size, n + wm_cfg.unroll_steps, n - 1, rng, device)
            loss, _ = world_model.loss(segment.frames, segment.actions, segment.mask)
            optimiser.step(loss)
            world_model.after_step()


if __name__ == "__main__":
    main()
