"""Why did a catch run end where it did? Reads a run's checkpoint; prints figures, asserts nothing.

    ablate train --game catch --seed 3 --budget smoke --out runs/catch3
    python tools/catch/diagnosis.py runs/catch3

Three views of the agent in the run directory, each on catch's exact states (ball row and column,
paddle column), rendered with the game's own `render`:
- footprint: how far apart the encoder puts two frames that differ by one paddle column, by one
  ball column and by one ball row (RMS over latent entries). The world model's loss weighs an
  object by this distance squared; a paddle far fainter than the ball is learnt last.
- tracking: `--sequences` random action sequences imagined from each episode start (the trainer's
  sampler, context padded as the trainer pads it); after each step, does the encoded real state
  nearest the imagined latent have the true ball position, the true paddle column, both?
- per ball column: the final policy's catch rate on the real game (`--episodes` episodes, actions
  sampled as in evaluation); the imagined policy's catch rate (its imagined actions replayed on
  the real game); the reward model's expected landing reward P(+1) - P(-1) in imagination, split by
  whether the imagined actions really catch. A column the policy misses while imagination reads its
  catches as misses points at the models; one whose catches imagination reads right points at the policy.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from ablate.config import Config, config_from_dict
from ablate.envs.catch import COLS, EPISODE_STEPS, move_paddle, render
from ablate.jedi.agent import Agent
from ablate.jedi.replay import padding_frame, to_network
from ablate.jedi.sampler import EulerSampler
from ablate.jedi.trainer import CHECKPOINT, CONFIG

ACTIONS = 3  # catch: left, stay, right
START_COL = COLS // 2  # the paddle's column at reset


def load_agent(run_dir: Path) -> tuple[Agent, Config]:
    config = config_from_dict(json.loads((run_dir / CONFIG).read_text()))
    agent = Agent(config, ACTIONS)
    agent.load_state_dict(torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=True)["agent"])
    return agent.eval(), config


@torch.no_grad()
def encode(agent: Agent, frames: list[np.ndarray]) -> torch.Tensor:
    return agent.world_model.encode(to_network(torch.from_numpy(np.stack(frames))))


def paddle_after(actions: np.ndarray) -> np.ndarray:
    """The paddle's column after each action of sequences (N, T), from the reset column: (N, T)."""
    columns, column = [], np.full(actions.shape[0], START_COL)
    for t in range(actions.shape[1]):
        column = move_paddle(column, actions[:, t])
        columns.append(column)
    return np.stack(columns, 1)


# Every state of the game: (ball row, ball column, paddle column).
STATES = [(r, b, p) for r in range(EPISODE_STEPS + 1) for b in range(COLS) for p in range(COLS)]


def footprint(agent: Agent) -> dict[str, float]:
    z = encode(agent, [render(*state) for state in STATES]).reshape(EPISODE_STEPS + 1, COLS, COLS, -1)

    def distance(a: torch.Tensor, b: torch.Tensor) -> float:
        return (a - b).pow(2).mean(-1).sqrt().mean().item()

    return {
        "latent_rms": z.pow(2).mean().sqrt().item(),
        "paddle_column": distance(z[:, :, 1:], z[:, :, :-1]),
        "ball_column": distance(z[:, 1:], z[:, :-1]),
        "ball_row": distance(z[1:], z[:-1]),
    }


class Imagined:
    """Episodes imagined from their first frame under given actions, with the reward model's reading."""

    def __init__(self, agent: Agent, config: Config) -> None:
        self.agent, self.n = agent, config.world_model.num_conditioning
        self.sampler = EulerSampler(agent.world_model.denoiser, config.sampler)
        with torch.no_grad():  # the trainer's padding frame, mid-grey
            self.padding = agent.world_model.encode(padding_frame(torch.device("cpu")))[0]

    @torch.no_grad()
    def run(self, ball_cols: np.ndarray, choose) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """Imagine EPISODE_STEPS steps; `choose(z, step)` gives each step's actions (N,).

        Returns the imagined latents (N, T, ...), the actions (N, T) and the expected reward at each step (N, T).
        """
        agent, n = self.agent, self.n
        first = encode(agent, [render(0, int(c), START_COL) for c in ball_cols])
        window = torch.cat([self.padding.expand(len(ball_cols), n - 1, *first.shape[1:]), first[:, None]], 1)
        past = torch.zeros(len(ball_cols), n - 1, dtype=torch.long)  # padding frames carry action 0, as in replay
        _, _, hidden = agent.reward_end(window[:, :-1], past, window[:, 1:])
        latents, actions, rewards = [], [], []
        z = first
        for step in range(EPISODE_STEPS):
            action = choose(z, step)
            acts = torch.cat([past, action[:, None]], 1)
            z_next = self.sampler.sample(window, acts)
            logits, _, hidden = agent.reward_end(z[:, None], action[:, None], z_next[:, None], hidden)
            probs = logits[:, 0].softmax(-1)
            rewards.append((probs[:, 2] - probs[:, 0]).numpy())
            latents.append(z_next)
            actions.append(action.numpy())
            window, past, z = torch.cat([window[:, 1:], z_next[:, None]], 1), acts[:, 1:], z_next
        return torch.stack(latents, 1), np.stack(actions, 1), np.stack(rewards, 1)


def given(actions: torch.Tensor):
    """Actions (N, T) fixed in advance, as a `choose` for `Imagined.run`."""
    return lambda z, step: actions[:, step]


class ImaginedPolicy:
    """The final policy acting in imagination; burnt in on the padded context first, as the trainer's rollout is."""

    def __init__(self, actor_critic, imagined: Imagined) -> None:
        self.actor_critic, self.imagined, self.hidden = actor_critic, imagined, None

    def __call__(self, z: torch.Tensor, step: int) -> torch.Tensor:
        if self.hidden is None:
            padding = self.imagined.padding.expand(len(z), self.imagined.n - 1, *z.shape[1:])
            self.hidden = self.actor_critic.burn_in(torch.cat([padding, z[:, None]], 1))
        action, self.hidden = self.actor_critic.act(z, self.hidden, epsilon=0.0)
        return action


def tracking(agent: Agent, imagined: Imagined, sequences: int, rng: np.random.Generator) -> dict[str, list[float]]:
    real = encode(agent, [render(*state) for state in STATES])
    ball_cols = rng.integers(0, COLS, sequences)
    random_actions = torch.from_numpy(rng.integers(0, ACTIONS, (sequences, EPISODE_STEPS)))
    latents, actions, _ = imagined.run(ball_cols, given(random_actions))
    paddles = paddle_after(actions)
    ball, paddle, both = [], [], []
    for t in range(EPISODE_STEPS):
        nearest = ((latents[:, t, None] - real[None]) ** 2).flatten(2).mean(-1).argmin(1).tolist()
        found = np.array([STATES[k] for k in nearest])
        ball_right = (found[:, 0] == t + 1) & (found[:, 1] == ball_cols)
        paddle_right = found[:, 2] == paddles[:, t]
        ball.append(ball_right.mean())
        paddle.append(paddle_right.mean())
        both.append((ball_right & paddle_right).mean())
    return {"ball": ball, "paddle": paddle, "both": both}


@torch.no_grad()
def real_catch_rate(agent: Agent, column: int, episodes: int) -> float:
    ac = agent.actor_critic
    hidden = ac.initial_state(episodes, torch.device("cpu"))
    paddle = np.full(episodes, START_COL)
    for row in range(EPISODE_STEPS):
        z = encode(agent, [render(row, column, p) for p in paddle])
        action, hidden = ac.act(z, hidden, epsilon=0.0)
        paddle = move_paddle(paddle, action.numpy())
    return float((paddle == column).mean())


def per_column(agent: Agent, imagined: Imagined, episodes: int, sequences: int, rng: np.random.Generator) -> list[dict]:
    ac, rows = agent.actor_critic, []
    for column in range(COLS):
        _, actions, _ = imagined.run(np.full(episodes, column), ImaginedPolicy(ac, imagined))
        imagined_catch = (paddle_after(actions)[:, -1] == column).mean()
        random_actions = torch.from_numpy(rng.integers(0, ACTIONS, (sequences, EPISODE_STEPS)))
        _, actions, rewards = imagined.run(np.full(sequences, column), given(random_actions))
        caught = paddle_after(actions)[:, -1] == column
        landing = rewards[:, -1]
        rows.append(
            {
                "column": column,
                "real_catch": real_catch_rate(agent, column, episodes),
                "imagined_policy_catch": float(imagined_catch),
                "landing_reward_on_catches": float(landing[caught].mean()) if caught.any() else float("nan"),
                "landing_reward_on_misses": float(landing[~caught].mean()) if (~caught).any() else float("nan"),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="an `ablate train --game catch` output directory")
    parser.add_argument("--episodes", type=int, default=200, help="policy episodes per ball column")
    parser.add_argument("--sequences", type=int, default=500, help="random action sequences imagined")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not (args.run_dir / CHECKPOINT).exists():
        parser.error(f"{args.run_dir} holds no {CHECKPOINT}; pass an `ablate train --game catch` --out")
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    agent, config = load_agent(args.run_dir)
    imagined = Imagined(agent, config)

    f = footprint(agent)
    print(
        f"footprint: latent RMS {f['latent_rms']:.3f}; RMS change for one paddle column {f['paddle_column']:.3f}, "
        f"one ball column {f['ball_column']:.3f}, one ball row {f['ball_row']:.3f} "
        f"(paddle/ball {f['paddle_column'] / f['ball_column']:.2f})"
    )
    track = tracking(agent, imagined, args.sequences, rng)
    print(f"tracking over {args.sequences} random action sequences, imagined steps 1-{EPISODE_STEPS}:")
    for name, values in track.items():
        print(f"  {name:6s} right " + " ".join(f"{v:.2f}" for v in values))
    print("per ball column: real catch | imagined policy catch | imagined landing reward on catches / on misses")
    for row in per_column(agent, imagined, args.episodes, args.sequences, rng):
        print(
            f"  column {row['column']}: {row['real_catch']:.2f} | {row['imagined_policy_catch']:.2f} | "
            f"{row['landing_reward_on_catches']:+.2f} / {row['landing_reward_on_misses']:+.2f}"
        )


if __name__ == "__main__":
    main()
