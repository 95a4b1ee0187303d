"""Does the world model predict catch? A diagnostic that trains only the world model; prints figures, asserts nothing.

    python tools/catch/world_model.py                                   # smoke as shipped, 500 steps
    python tools/catch/world_model.py --set denoiser.noise_loc=-0.4     # DIAMOND's training noise
    python tools/catch/world_model.py --set world_model.predictor=mse --steps 300

Fills a replay buffer with `--random-steps` random-policy steps of catch (1,000 unless told), then
trains the encoder and denoiser (the trainer's own loss and optimiser) and, every `--every` steps,
imagines with the trainer's sampler on 150 held-out random-policy episodes (all 9 frames of each). A
prediction counts as right when
the encoded real frame nearest to it (among all held-out frames) shows exactly the true next frame:
- `next_acc`: one step ahead from real context, over the frames that follow 4 real ones;
- `end_acc`: one step ahead, the episode's last frame only (the frame that decides catch or miss);
- `rollout3_acc`: the last frame after imagining 3 steps on the model's own predictions;
- `error/copy`: squared error of the one-step prediction of the last frame over that of repeating
  the frame before (below 1: better than copying);
- `latent_std`: the encoder's per-dimension spread across frames (collapse shows as a fall).
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
from ablate.envs.catch import EPISODE_STEPS
from ablate.errors import UsageError
from ablate.jedi.agent import Agent
from ablate.jedi.optimiser import build_optimisers
from ablate.jedi.replay import ReplayBuffer, to_network
from ablate.jedi.sampler import EulerSampler
from ablate.jedi.world_model import WorldModel

ACTIONS = 3  # catch: left, stay, right
EPISODE_FRAMES = EPISODE_STEPS + 1


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


def held_out_episodes(episodes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Frames (E, F, 3, 64, 64) in [-1, 1], actions (E, F - 1) and an identity per frame (E, F); F = EPISODE_FRAMES."""
    rng = np.random.default_rng(seed)
    env = make_env("catch", seed, train=False, max_episode_steps=1_000)
    frames, actions = [], []
    for e in range(episodes):
        obs, _ = env.reset(seed=seed + e)
        episode, taken = [obs], []
        for _ in range(EPISODE_FRAMES - 1):
            action = int(rng.integers(ACTIONS))
            obs, *_ = env.step(action)
            episode.append(obs)
            taken.append(action)
        frames.append(np.stack(episode))
        actions.append(taken)
    identity = np.array([[hash(frame.tobytes()) for frame in episode] for episode in frames])
    return to_network(torch.from_numpy(np.stack(frames))), torch.tensor(actions), identity


@torch.no_grad()
def prediction_figures(
    world_model: WorldModel, sampler: EulerSampler, held_out: tuple[torch.Tensor, torch.Tensor, np.ndarray], n: int
) -> dict[str, float]:
    frames, actions, identity = held_out
    world_model.eval()
    z = world_model.encode(frames)
    bank, bank_identity = z.flatten(0, 1).flatten(1), identity.reshape(-1)

    def right(prediction: torch.Tensor, t: int) -> np.ndarray:
        nearest = torch.cdist(prediction.flatten(1), bank).argmin(1).numpy()
        return bank_identity[nearest] == identity[:, t]

    last = EPISODE_FRAMES - 1
    one_step = {t: sampler.sample(z[:, t - n : t], actions[:, t - n : t]) for t in range(n, EPISODE_FRAMES)}
    window = z[:, last - 2 - n : last - 2]
    for t in range(last - 2, last + 1):
        predicted = sampler.sample(window, actions[:, t - n : t])
        window = torch.cat([window[:, 1:], predicted[:, None]], 1)
    world_model.train()
    return {
        "next_acc": float(np.mean([right(p, t).mean() for t, p in one_step.items()])),
        "end_acc": float(right(one_step[last], last).mean()),
        "rollout3_acc": float(right(predicted, last).mean()),
        "error/copy": (
            (one_step[last] - z[:, last]).pow(2).mean() / (z[:, last - 1] - z[:, last]).pow(2).mean()
        ).item(),
        "latent_std": z.flatten(0, 1).flatten(1).std(0).mean().item(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", default="smoke")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--steps", type=int, default=500, help="world-model gradient steps")
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--random-steps", type=int, default=1_000, help="random-policy steps in the replay buffer")
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
    if n > EPISODE_FRAMES - 3:
        parser.error(
            f"world_model.num_conditioning must be at most {EPISODE_FRAMES - 3} "
            f"for catch's {EPISODE_FRAMES}-frame episodes"
        )
    held_out = held_out_episodes(150, 10_000 + args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        replay = random_replay(Path(tmp), args.random_steps, args.seed)
        agent = Agent(config, ACTIONS)
        optimiser = build_optimisers(agent, config)["world_model"]
        world_model = agent.world_model
        sampler = EulerSampler(world_model.denoiser, config.sampler)
        started = time.perf_counter()
        for step in range(args.steps + 1):
            if step % args.every == 0 or step == args.steps:
                figures = prediction_figures(world_model, sampler, held_out, n)
                print(
                    f"step {step:5d}  "
                    + "  ".join(f"{k} {v:.3g}" for k, v in figures.items())
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
