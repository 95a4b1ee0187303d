"""Real-environment interaction: the collector that fills the replay buffer, and the evaluation episodes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from ablate.config import Config
from ablate.envs import make_vector_env
from ablate.jedi.agent import Agent
from ablate.jedi.replay import ReplayBuffer, to_network


@dataclass
class Collector:
    """Steps the training environment with the current policy (epsilon-greedy) and fills the buffer."""

    env: gym.Env
    replay: ReplayBuffer
    obs: np.ndarray | None = None
    hidden: tuple[torch.Tensor, torch.Tensor] | None = None
    episode_return: float = 0.0
    episodes_started: int = 0
    finished_returns: list[float] = field(default_factory=list)

    def _reset(self, agent: Agent, device: torch.device) -> None:
        self.obs, _ = self.env.reset()
        self.episodes_started += 1
        self.replay.start_episode(self.obs)
        self.hidden = agent.actor_critic.initial_state(1, device)
        self.episode_return = 0.0

    @torch.no_grad()
    def collect(
        self, agent: Agent, steps: int, epsilon: float, device: torch.device, on_step: Callable[[], None] | None = None
    ) -> int:
        """Take `steps` environment steps; returns how many non-zero rewards were seen."""
        nonzero = 0
        for _ in range(steps):
            if self.obs is None:
                self._reset(agent, device)
            frame = to_network(torch.from_numpy(self.obs).to(device))[None]
            assert self.hidden is not None  # set by _reset
            chosen, self.hidden = agent.actor_critic.act(agent.world_model.encode(frame), self.hidden, epsilon)
            action = int(chosen.item())  # the environment needs it on the host
            self.obs, reward, terminated, truncated, _ = self.env.step(action)
            self.replay.add_step(action, float(reward), terminated, self.obs)
            self.episode_return += float(reward)
            nonzero += reward != 0
            if terminated or truncated:
                self.replay.end_episode()
                self.finished_returns.append(self.episode_return)
                self.obs = None
            if on_step is not None:
                on_step()
        return nonzero


@torch.no_grad()
def evaluate(
    agent: Agent,
    game: str,
    seed: int,
    episodes: int,
    config: Config,
    device: torch.device,
    on_episode: Callable[[], None] | None = None,
) -> list[float]:
    """Mean-return evaluation as in JEDI.md section 1: epsilon 0, actions sampled from the policy.

    Episodes run `eval_envs` at a time; env i plays a fixed quota of episodes (its first ones), so
    short episodes are not over-represented.
    """
    n = min(config.training.eval_envs, episodes)
    quotas = np.array([episodes // n + (i < episodes % n) for i in range(n)])
    returns: list[list[float]] = [[] for _ in range(n)]
    envs = make_vector_env(game, seed, n, train=False, max_episode_steps=config.training.max_episode_steps)
    try:
        obs, _ = envs.reset(seed=seed)
        hidden = agent.actor_critic.initial_state(n, device)
        while any(len(r) < q for r, q in zip(returns, quotas, strict=True)):
            frames = to_network(torch.from_numpy(obs).to(device))
            actions, hidden = agent.actor_critic.act(agent.world_model.encode(frames), hidden, epsilon=0.0)
            obs, _, terminated, truncated, info = envs.step(actions.cpu().numpy())
            done = terminated | truncated
            for i in np.flatnonzero(done):
                if len(returns[i]) < quotas[i]:
                    returns[i].append(float(info["episode"]["r"][i]))
                    if on_episode is not None:
                        on_episode()
            # A finished env restarts (same-step autoreset): its policy memory starts afresh too.
            keep = torch.from_numpy(~done).to(device, torch.float32)[:, None]
            hidden = (hidden[0] * keep, hidden[1] * keep)
    finally:
        envs.close()
    return [r for per_env in returns for r in per_env]
