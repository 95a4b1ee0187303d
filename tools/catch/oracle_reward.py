"""Does the actor-critic learn catch when imagined rewards are right? A diagnostic; prints figures, asserts nothing.

    python tools/catch/oracle_reward.py                 # smoke, seed 0, oracle rewards in imagination
    python tools/catch/oracle_reward.py --reward model  # the same run with the reward model (as `ablate train`)
    python tools/catch/oracle_reward.py --seed 1 --set world_model.predictor=mse

Trains JEDI on catch exactly as `ablate train` does, except that with `--reward oracle` imagination
takes its rewards and terminations from the game's rules instead of the reward/termination model:
each imagined latent is read as the catch state (ball row and column, paddle column; 225 in all) whose
rendered frame the current encoder maps nearest to it. The reward model still trains, unused. Each
epoch prints the imagined return (what the actor-critic optimises), the return of the training
episodes and, every few epochs, the evaluation return; the final line is the run's mean over the final
evaluation episodes, as in `result.json`. The gap between the two settings is what the reward model
costs; the gap between imagined and real returns with the oracle is what imagination's latents cost.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

import numpy as np
import torch

from ablate.config import parse_set_options, resolve_config
from ablate.envs.catch import COLS, LANDING_ROW, render
from ablate.errors import UsageError
from ablate.jedi.device import resolve_device
from ablate.jedi.replay import to_network
from ablate.jedi.trainer import EpochReport, Trainer
from ablate.jedi.world_model import WorldModel

Hidden = tuple[torch.Tensor, torch.Tensor] | None


class CatchRules:
    """Stands in for the reward/termination model in imagination (same calls): the game's own rules on
    the catch state nearest to each imagined latent."""

    def __init__(self, world_model: WorldModel, device: torch.device) -> None:
        states = list(itertools.product(range(LANDING_ROW + 1), range(COLS), range(COLS)))  # ball row, ball, paddle
        frames = np.stack([render(*state) for state in states])
        self.frames = to_network(torch.from_numpy(frames).to(device))
        self.states = torch.tensor(states, device=device)
        self.world_model = world_model
        self.bank = torch.empty(0)

    @torch.no_grad()
    def __call__(self, z: torch.Tensor, actions: torch.Tensor, z_next: torch.Tensor, hidden: Hidden = None):
        """The burn-in on the context, once per rollout: encode the states with this moment's encoder."""
        self.bank = self.world_model.encode(self.frames).flatten(1)
        state = z.new_zeros(1, z.shape[0], 1)  # no memory, but imagination's step passes a tensor state on
        return None, None, (state, state)

    @torch.no_grad()
    def sample(self, z: torch.Tensor, actions: torch.Tensor, z_next: torch.Tensor, hidden: Hidden):
        row, ball, paddle = self.states[torch.cdist(z_next.flatten(1).float(), self.bank).argmin(1)].unbind(1)
        end = (row == LANDING_ROW).float()
        reward = end * torch.where(ball == paddle, 1.0, -1.0)
        return reward, end, end, hidden  # a reward is non-zero exactly at the end


def _print_epoch(report: EpochReport) -> None:
    shown = {"imagined": "actor_critic/return", "train episodes": "train/episode_return", "eval": "eval/return"}
    figures = "  ".join(f"{label} {report.metrics[key]:+.2f}" for label, key in shown.items() if key in report.metrics)
    print(f"epoch {report.epoch}/{report.total_epochs}  env steps {report.env_steps}  {figures}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reward", choices=("oracle", "model"), default="oracle")
    parser.add_argument("--budget", default="smoke")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    try:
        config = resolve_config(args.budget, parse_set_options(args.overrides))
        device = resolve_device(args.device)
    except UsageError as error:
        parser.error(str(error))
    if config.world_model.num_conditioning < 2:  # imagination's burn-in call is what re-encodes the states
        parser.error("world_model.num_conditioning must be at least 2 for this diagnostic")
    torch.manual_seed(args.seed)
    with tempfile.TemporaryDirectory() as out_dir:
        trainer = Trainer(config, "catch", args.seed, Path(out_dir), device, _print_epoch, progress=False)
        if args.reward == "oracle":
            trainer.imagination.reward_end = CatchRules(trainer.agent.world_model, device)
        try:
            result = trainer.run()
        finally:
            trainer.env.close()
    print(
        f"final: mean return {result.mean_return:+.3f} over {len(result.eval_returns)} episodes "
        f"({args.reward} rewards, seed {args.seed}, {result.wall_s:.0f} s)"
    )


if __name__ == "__main__":
    main()
