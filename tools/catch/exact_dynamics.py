"""How fast does the actor-critic learn catch when imagination is exact? A diagnostic; prints figures, asserts nothing.

    python tools/catch/exact_dynamics.py                      # smoke's actor-critic, seed 0
    python tools/catch/exact_dynamics.py --seed 2 --set training.actor_critic_batch_size=16
    python tools/catch/exact_dynamics.py --read 0.35 0.07 --set reward_end.imagined_reward=sample

The trainer's actor-critic (network, loss, optimiser, batch and horizon of the budget) trains on
rollouts that catch's own rules play out instead of the world model and the reward model: contexts
start anywhere in an episode, as imagination's do, and each step's latent is the encoding of the true
next frame by the budget's freshly initialised encoder. Every `--every` updates it prints the mean
return of the policy over 400 real episodes, playing from the encoded real frames. This is an upper
bound for what imagination can give the actor-critic in the same number of updates. `--read` makes
the landing's reward as noisy as a reward model that misreads imagined landings, given to the
actor-critic sampled or as its expectation, as `reward_end.imagined_reward` says.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import torch
from torch.distributions import Categorical

from ablate.config import parse_set_options, resolve_config
from ablate.envs.catch import COLS, LANDING_ROW, render
from ablate.errors import UsageError
from ablate.jedi.actor_critic import Trajectory, actor_critic_loss
from ablate.jedi.agent import Agent
from ablate.jedi.optimiser import build_optimisers
from ablate.jedi.replay import to_network

ACTIONS = 3  # catch: left, stay, right


class ExactCatch:
    """Batched catch states (ball row, ball column, paddle column) and their encoded frames."""

    def __init__(self, agent: Agent) -> None:
        states = list(itertools.product(range(LANDING_ROW + 1), range(COLS), range(COLS)))
        frames = torch.from_numpy(np.stack([render(*state) for state in states]))
        with torch.no_grad():
            self.latents = agent.world_model.encode(to_network(frames))
        self.index = {state: i for i, state in enumerate(states)}

    def encode(self, rows: np.ndarray, balls: np.ndarray, paddles: np.ndarray) -> torch.Tensor:
        states = zip(rows.tolist(), balls.tolist(), paddles.tolist(), strict=True)
        return self.latents[[self.index[state] for state in states]]


def evaluate(agent: Agent, game: ExactCatch, rng: np.random.Generator, episodes: int = 400) -> float:
    balls, rows, paddles = rng.integers(COLS, size=episodes), np.zeros(episodes, int), np.full(episodes, COLS // 2)
    with torch.no_grad():
        hidden = agent.actor_critic.initial_state(episodes, torch.device("cpu"))
        for _ in range(LANDING_ROW):
            logits, _, hidden = agent.actor_critic(game.encode(rows, balls, paddles), hidden)
            paddles = np.clip(paddles + Categorical(logits=logits).sample().numpy() - 1, 0, COLS - 1)
            rows = rows + 1
    return float(np.mean(np.where(paddles == balls, 1.0, -1.0)))


def landing_reward(caught: np.ndarray, read: tuple[float, float], mean: bool, rng: np.random.Generator) -> np.ndarray:
    """+1 or -1 for each landing as a reward model reads it: +1 with probability read[0] for a catch and
    read[1] for a miss; with `mean` (reward_end.imagined_reward = "mean") the expectation of that reading."""
    p = np.where(caught, *read)
    if mean or set(read) <= {0.0, 1.0}:
        return 2 * p - 1
    return np.where(rng.random(p.shape) < p, 1.0, -1.0)


def rollout(
    agent: Agent,
    game: ExactCatch,
    rng: np.random.Generator,
    batch: int,
    n: int,
    horizon: int,
    read: tuple[float, float] = (1.0, 0.0),
    mean: bool = False,
) -> Trajectory:
    """Contexts of n frames ending anywhere before the landing row (the paddle where a random walk may be)."""
    rows, balls = rng.integers(LANDING_ROW, size=batch), rng.integers(COLS, size=batch)
    paddles = np.clip(COLS // 2 + rng.integers(-rows, rows + 1), 0, COLS - 1)
    context = torch.stack([game.encode(np.maximum(rows - k, 0), balls, paddles) for k in range(n - 1, -1, -1)], 1)
    ac = agent.actor_critic
    hidden = ac.burn_in(context)
    z = context[:, -1]
    log_probs, entropies, values, rewards, ends = [], [], [], [], []
    for _ in range(horizon):
        logits, value, hidden = ac(z, hidden)
        dist = Categorical(logits=logits)
        action = dist.sample()
        log_probs.append(dist.log_prob(action))
        entropies.append(dist.entropy())
        values.append(value)
        paddles = np.clip(paddles + action.numpy() - 1, 0, COLS - 1)
        rows = np.minimum(rows + 1, LANDING_ROW)
        end = rows == LANDING_ROW
        rewards.append(torch.from_numpy(np.where(end, landing_reward(paddles == balls, read, mean, rng), 0.0)).float())
        ends.append(torch.from_numpy(end).float())
        z = game.encode(rows, balls, paddles)
    values.append(ac(z, hidden)[1])
    stack = [torch.stack(x, 1) for x in (log_probs, entropies, values, rewards, ends)]
    return Trajectory(*stack, reward_rates=stack[-1])  # a reward is non-zero exactly at the landing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", default="smoke")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--updates", type=int, default=550, help="a whole smoke run has 490")
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument(
        "--read",
        type=float,
        nargs=2,
        default=(1.0, 0.0),
        metavar=("CATCH", "MISS"),
        help="probability that a catch, and a miss, is rewarded +1 (else -1): a reward model's misreading; "
        "default 1 0, the rules",
    )
    args = parser.parse_args()
    if not all(0.0 <= p <= 1.0 for p in args.read):
        parser.error("--read takes two probabilities within [0, 1]")
    try:
        config = resolve_config(args.budget, parse_set_options(args.overrides))
    except UsageError as error:
        parser.error(str(error))
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    agent = Agent(config, ACTIONS)
    optimiser = build_optimisers(agent, config)["actor_critic"]
    game = ExactCatch(agent)
    batch, n = config.training.actor_critic_batch_size, config.world_model.num_conditioning
    mean = config.reward_end.imagined_reward == "mean"
    for update in range(args.updates + 1):
        if update % args.every == 0:
            print(f"update {update:5d}  mean return {evaluate(agent, game, rng):+.3f}", flush=True)
        if update < args.updates:
            trajectory = rollout(agent, game, rng, batch, n, config.actor_critic.horizon, tuple(args.read), mean)
            loss, _ = actor_critic_loss(trajectory, config.actor_critic)
            optimiser.step(loss)


if __name__ == "__main__":
    main()
