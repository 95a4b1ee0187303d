"""The latent world-model environment the actor-critic trains in.

A batch of real context segments (the latents of the last `num_conditioning` frames, and actions); then
for `horizon` steps the policy acts, the Euler sampler draws the next latent from the denoiser,
and the reward/termination model scores the transition. Everything runs batched on the device
with no host synchronisation; the world model is frozen here (no gradients). On CUDA those
gradient-free parts of a step replay a captured graph (cuda_graph.py; `training.cuda_graphs`).
In pixel space (DIAMOND's world-model environment, `envs/world_model_env.py`) the latents are frames.
"""

from __future__ import annotations

import torch
from torch.distributions import Categorical

from ablate.config import Config
from ablate.jedi.actor_critic import ActorCritic, Trajectory
from ablate.jedi.cuda_graph import GraphedCall
from ablate.jedi.reward_end import RewardEndModel
from ablate.jedi.sampler import EulerSampler
from ablate.jedi.world_model import WorldModel


class Imagination:
    """`reward_end` is the one reader of imagined transitions (its `__call__` for the burn-in, `sample` per step):
    a stand-in with the same calls may replace it to ask what imagination gives with other rewards
    (tools/catch/oracle_reward.py puts the game's rules there)."""

    def __init__(self, config: Config, world_model: WorldModel, reward_end: RewardEndModel) -> None:
        self.world_model = world_model
        self.reward_end = reward_end
        self.sampler = EulerSampler(world_model.denoiser, config.sampler)
        self.n = config.world_model.num_conditioning
        self.horizon = config.actor_critic.horizon
        tr = config.training
        self.next_latent = GraphedCall(self.sampler.sample, tr.amp) if tr.cuda_graphs else self.sampler.sample
        self.world_step = GraphedCall(self._world_step, tr.amp) if tr.cuda_graphs else self._world_step

    def _world_step(
        self, window_z: torch.Tensor, window_a: torch.Tensor, z: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """The next latent after the window and the reward model's reading of the transition into it."""
        z_next = self.sampler.sample(window_z, window_a)
        reward, nonzero, end, (h, c) = self.reward_end.sample(z, window_a[:, -1], z_next, (h, c))
        return z_next, reward, nonzero, end, h, c

    @torch.no_grad()
    def follow(self, context: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Latents imagined after real context latents (B, n, C, H, W) under given actions (B, n - 1 + T): (B, T, ...).

        Action i of `actions` is the one taken at frame i of the context and what follows it.
        """
        window, imagined = context, []
        for t in range(actions.shape[1] - self.n + 1):
            z_next = self.next_latent(window, actions[:, t : t + self.n])
            imagined.append(z_next)
            window = torch.cat([window[:, 1:], z_next[:, None]], 1)
        return torch.stack(imagined, 1)

    def rollout(self, actor_critic: ActorCritic, latents: torch.Tensor, actions: torch.Tensor) -> Trajectory:
        """Imagine `horizon` steps from the latents of real context frames (B, n, C, H, W) and actions (B, n).

        Gradients flow only into the actor-critic. The context's last action is replaced by the policy's.
        """
        hidden = actor_critic.burn_in(latents)
        with torch.no_grad():
            if self.n > 1:  # warm the reward model's LSTM on the context transitions, as DIAMOND does
                _, _, (h, c) = self.reward_end(latents[:, :-1], actions[:, :-1], latents[:, 1:])
            else:
                h = c = latents.new_zeros(1, latents.shape[0], self.reward_end.lstm.hidden_size)
        window_z, past_actions = latents, actions[:, :-1]
        z = latents[:, -1]
        log_probs, entropies, values, rewards, ends, reward_rates = [], [], [], [], [], []
        for _ in range(self.horizon):
            logits, value, hidden = actor_critic(z, hidden)
            dist = Categorical(logits=logits, validate_args=False)  # validation would wait for the device
            action = dist.sample()
            log_probs.append(dist.log_prob(action))
            entropies.append(dist.entropy())
            values.append(value)
            with torch.no_grad():
                window_a = torch.cat([past_actions, action[:, None]], 1)
                z_next, reward, nonzero, end, h, c = self.world_step(window_z, window_a, z, h, c)
                past_actions = window_a[:, 1:]
                window_z = torch.cat([window_z[:, 1:], z_next[:, None]], 1)
            rewards.append(reward)
            reward_rates.append(nonzero)
            ends.append(end)
            z = z_next
        _, last_value, _ = actor_critic(z, hidden)
        values.append(last_value)
        return Trajectory(
            log_probs=torch.stack(log_probs, 1),
            entropies=torch.stack(entropies, 1),
            values=torch.stack(values, 1),
            rewards=torch.stack(rewards, 1),
            ends=torch.stack(ends, 1),
            reward_rates=torch.stack(reward_rates, 1),
        )
