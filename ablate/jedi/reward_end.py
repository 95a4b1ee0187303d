"""Reward and termination from latents and actions: an LSTM, cross-entropy on sign-binned rewards.

As in DIAMOND, a transition (z_t, a_t, z_t+1) is the input, so the model sees the outcome of the
action; reward classes are {-1, 0, +1} -> {0, 1, 2}, termination classes {0, 1}. The trunk is
DIAMOND's `RewEndEncoder` at the latent resolution: residual blocks whose adaptive group norm is
conditioned on the action's embedding, flattened into the LSTM. In pixel space z is a frame and the
trunk is DIAMOND's `RewEndEncoder` itself (`frame_encoders.py`); the LSTM, head and loss are the same.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Categorical
from torch.nn import functional as F

from ablate.config import Config
from ablate.jedi.frame_encoders import RewEndEncoder
from ablate.jedi.latent_net import LatentFeatures, init_lstm
from ablate.jedi.unet import AdaResidualBlock
from ablate.jedi.world_model import masked_mean

Hidden = tuple[torch.Tensor, torch.Tensor]


class ConditionedTrunk(nn.Module):
    """DIAMOND's RewEndEncoder over a latent pair: conv in, residual blocks conditioned on the action, flatten."""

    def __init__(self, in_shape: tuple[int, int, int], channels: int, cond_channels: int, num_blocks: int) -> None:
        super().__init__()
        c, h, w = in_shape
        # Ours, as in LatentFeatures: latents train to a small, drifting scale, so each sample is standardised.
        self.norm_in = nn.LayerNorm([c, h, w], elementwise_affine=False)
        self.conv_in = nn.Conv2d(c, channels, 3, padding=1)
        self.blocks = nn.ModuleList(AdaResidualBlock(channels, channels, cond_channels) for _ in range(num_blocks))
        self.out_dim = channels * h * w

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(self.norm_in(x))
        for block in self.blocks:
            x = block(x, cond)
        return x.flatten(1)


class RewardEndModel(nn.Module):
    def __init__(self, config: Config, num_actions: int) -> None:
        super().__init__()
        cfg = config.reward_end
        c, h, w = config.world_model.latent_shape
        self.features: RewEndEncoder | ConditionedTrunk | LatentFeatures
        if config.world_model.space == "pixel":
            self.features = RewEndEncoder(cfg.channels, cfg.cond_channels, cfg.num_blocks)
        elif cfg.action_input == "trunk":
            self.features = ConditionedTrunk((2 * c, h, w), cfg.channels, cfg.cond_channels, cfg.num_blocks)
        else:
            self.features = LatentFeatures((2 * c, h, w), cfg.channels, cfg.lstm_dim)
        if isinstance(self.features, LatentFeatures):  # the action's embedding joins the features at the LSTM
            self.action_embedding = nn.Embedding(num_actions, cfg.channels)
            lstm_in = self.features.out_dim + cfg.channels
        else:
            self.action_embedding = nn.Embedding(num_actions, cfg.cond_channels)
            lstm_in = self.features.out_dim
        self.lstm = nn.LSTM(lstm_in, cfg.lstm_dim, batch_first=True)
        # DIAMOND: the last layer of the head has no bias.
        self.head = nn.Sequential(
            nn.Linear(cfg.lstm_dim, cfg.lstm_dim), nn.SiLU(), nn.Linear(cfg.lstm_dim, 3 + 2, bias=False)
        )
        self.mean_reward = cfg.imagined_reward == "mean"
        init_lstm(self.lstm)

    def forward(
        self, z: torch.Tensor, actions: torch.Tensor, z_next: torch.Tensor, hidden: Hidden | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, Hidden]:
        """z, z_next: (B, T, C, H, W); actions: (B, T). Returns reward logits (B, T, 3), end logits (B, T, 2)."""
        b, t = actions.shape
        pairs = torch.cat([z, z_next], dim=2).flatten(0, 1)
        embedded = self.action_embedding(actions)
        if isinstance(self.features, LatentFeatures):
            x = torch.cat([self.features(pairs).unflatten(0, (b, t)), embedded], dim=-1)
        else:
            x = self.features(pairs, embedded.flatten(0, 1)).unflatten(0, (b, t))
        out, hidden = self.lstm(x, hidden)
        logits = self.head(out)
        return logits[..., :3], logits[..., 3:], hidden

    def loss(
        self, z: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor, ends: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """z: (B, T+1, ...) latents of a segment; actions, rewards, ends, mask: (B, T) per transition."""
        reward_logits, end_logits, _ = self(z[:, :-1], actions, z[:, 1:])
        reward_loss = masked_mean(
            F.cross_entropy(reward_logits.transpose(1, 2), reward_classes(rewards), reduction="none"), mask
        )
        end_loss = masked_mean(F.cross_entropy(end_logits.transpose(1, 2), ends.long(), reduction="none"), mask)
        predicted = reward_logits.argmax(-1) - 1
        metrics = {
            "reward_end/reward_loss": reward_loss.detach(),
            "reward_end/end_loss": end_loss.detach(),
            "reward_end/reward_accuracy": masked_mean((predicted == rewards.sign()).float(), mask).detach(),
            "replay/reward_rate": masked_mean((rewards != 0).float(), mask).detach(),
        }
        return reward_loss + end_loss, metrics

    def sample(
        self, z: torch.Tensor, actions: torch.Tensor, z_next: torch.Tensor, hidden: Hidden | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Hidden]:
        """One imagined step: reward, its probability of being non-zero, and end flag, all (B,) floats.

        The reward is a sampled class in {-1, 0, 1} (the probability is then 0 or 1), or with
        `imagined_reward = "mean"` its expectation P(+1) - P(-1) (and the probability 1 - P(0)).
        """
        reward_logits, end_logits, hidden = self(z[:, None], actions[:, None], z_next[:, None], hidden)
        if self.mean_reward:
            probs = reward_logits[:, 0].float().softmax(-1)
            reward, nonzero = probs[:, 2] - probs[:, 0], 1 - probs[:, 1]
        else:
            reward = (Categorical(logits=reward_logits[:, 0], validate_args=False).sample() - 1).float()
            nonzero = (reward != 0).float()
        end = Categorical(logits=end_logits[:, 0], validate_args=False).sample()
        return reward, nonzero, end.float(), hidden


def reward_classes(rewards: torch.Tensor) -> torch.Tensor:
    return (rewards.sign() + 1).long()
