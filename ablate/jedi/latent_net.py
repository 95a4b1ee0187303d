"""A small convnet over latents, shared in shape by the reward/termination model and the actor-critic."""

from __future__ import annotations

import torch
from torch import nn

POOLED_SIZE = 4  # features are pooled to 4x4 whatever the latent's size, so the LSTM input stays fixed


class LatentFeatures(nn.Module):
    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.SiLU(),
            nn.AdaptiveAvgPool2d(POOLED_SIZE),
            nn.Flatten(),
        )
        self.out_dim = channels * POOLED_SIZE**2

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)
