"""Policy and value on latents with an LSTM; REINFORCE with a lambda-return baseline (DIAMOND's loss).

In pixel space the LSTM reads frames through DIAMOND's `ActorCriticEncoder` (`frame_encoders.py`) in place of
the latent reader; the LSTM, heads and loss are the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.distributions import Categorical
from torch.nn import functional as F

from ablate.config import ActorCriticConfig, Config
from ablate.jedi.frame_encoders import ActorCriticEncoder
from ablate.jedi.latent_net import LatentFeatures, init_lstm

Hidden = tuple[torch.Tensor, torch.Tensor]


class ActorCritic(nn.Module):
    def __init__(self, config: Config, num_actions: int) -> None:
        super().__init__()
        cfg = config.actor_critic
        self.features: ActorCriticEncoder | LatentFeatures
        if config.world_model.space == "pixel":
            self.features = ActorCriticEncoder(cfg.frame_channels)
        else:
            self.features = LatentFeatures(config.world_model.latent_shape, cfg.channels, cfg.lstm_dim)
        self.lstm = nn.LSTMCell(self.features.out_dim, cfg.lstm_dim)
        self.actor = nn.Linear(cfg.lstm_dim, num_actions)
        self.critic = nn.Linear(cfg.lstm_dim, 1)
        self.lstm_dim = cfg.lstm_dim
        self.residual = cfg.residual
        # DIAMOND: the policy starts uniform and the value at zero.
        for head in (self.actor, self.critic):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        init_lstm(self.lstm)

    def initial_state(self, batch: int, device: torch.device) -> Hidden:
        zeros = torch.zeros(batch, self.lstm_dim, device=device)
        return zeros, zeros.clone()

    def forward(self, z: torch.Tensor, hidden: Hidden) -> tuple[torch.Tensor, torch.Tensor, Hidden]:
        """z: (B, C, H, W), a latent or a frame -> action logits (B, A), value (B,), new hidden state."""
        x = self.features(z)
        h, c = self.lstm(x, hidden)
        # Ours, not DIAMOND's: a residual path around the LSTM. Through the LSTM alone the heads see the
        # current latent blended with its memory, and REINFORCE learnt catch far slower (README's learning check).
        out = h + x if self.residual else h
        return self.actor(out), self.critic(out).squeeze(-1), (h, c)

    def burn_in(self, context: torch.Tensor) -> Hidden:
        """Run the LSTM over context latents (B, n, C, H, W) before acting from the last one."""
        hidden = self.initial_state(context.shape[0], context.device)
        for t in range(context.shape[1] - 1):
            _, _, hidden = self(context[:, t], hidden)
        return hidden

    @torch.no_grad()
    def act(self, z: torch.Tensor, hidden: Hidden, epsilon: float) -> tuple[torch.Tensor, Hidden]:
        """Sample from the policy, replaced by a uniform action with probability epsilon."""
        logits, _, hidden = self(z, hidden)
        action = Categorical(logits=logits, validate_args=False).sample()  # validation would wait for the device
        if epsilon > 0:
            explore = torch.rand(action.shape, device=z.device) < epsilon
            action = torch.where(explore, torch.randint_like(action, logits.shape[-1]), action)
        return action, hidden


@dataclass
class Trajectory:
    """An imagined rollout of horizon H: everything (B, H) except values (B, H + 1)."""

    log_probs: torch.Tensor
    entropies: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    ends: torch.Tensor
    reward_rates: torch.Tensor  # P(reward != 0) per step: a drawn reward's indicator, or 1 - P(0) for an expected one


def lambda_returns(
    rewards: torch.Tensor, ends: torch.Tensor, values: torch.Tensor, gamma: float, lambda_: float
) -> torch.Tensor:
    """G_t = r_t + gamma (1 - end_t) [(1 - lambda) V(s_t+1) + lambda G_t+1], bootstrapped with V(s_H).

    rewards, ends: (B, H); values: (B, H + 1). Rewards are clipped to [-1, 1]: imagined rewards are reward
    classes (the sign-clipped rewards of JEDI.md section 1) or their expectation, which this leaves as is.
    """
    rewards = rewards.clamp(-1, 1)
    returns = torch.empty_like(rewards)
    last = values[:, -1]
    for t in reversed(range(rewards.shape[1])):
        last = rewards[:, t] + gamma * (1 - ends[:, t]) * ((1 - lambda_) * values[:, t + 1] + lambda_ * last)
        returns[:, t] = last
    return returns


def actor_critic_loss(traj: Trajectory, cfg: ActorCriticConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """REINFORCE with the lambda-return baseline, value regression and an entropy bonus.

    Steps after an imagined episode ended carry no learning signal and are masked out.
    """
    with torch.no_grad():
        returns = lambda_returns(traj.rewards, traj.ends, traj.values.detach(), cfg.gamma, cfg.lambda_)
        alive = torch.cat([torch.ones_like(traj.ends[:, :1]), (1 - traj.ends[:, :-1]).cumprod(1)], dim=1)
        advantage = returns - traj.values[:, :-1].detach()
    weight = alive / alive.sum().clamp(min=1)
    policy_loss = -(traj.log_probs * advantage * weight).sum()
    entropy = (traj.entropies * weight).sum()
    value_loss = (F.mse_loss(traj.values[:, :-1], returns, reduction="none") * weight).sum()
    loss = policy_loss - cfg.entropy_weight * entropy + cfg.value_loss_weight * value_loss
    metrics = {
        "actor_critic/policy_loss": policy_loss.detach(),
        "actor_critic/value_loss": value_loss.detach(),
        "actor_critic/entropy": entropy.detach(),
        "actor_critic/return": (returns * weight).sum().detach(),
        "imagination/reward_rate": (traj.reward_rates * weight).sum().detach(),
    }
    return loss, metrics
