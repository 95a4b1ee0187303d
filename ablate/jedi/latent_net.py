"""The small network that reads a latent for the reward/termination model and the actor-critic.

Latents come out of the encoder at whatever scale training gives them (often std ~0.1), so the
input is standardised per sample first; the features are then flattened rather than pooled,
because where things are (the ball against the paddle) is what the policy needs.
"""

from __future__ import annotations

import torch
from torch import nn


class LatentFeatures(nn.Module):
    def __init__(self, latent_shape: tuple[int, int, int], channels: int, out_dim: int) -> None:
        super().__init__()
        c, h, w = latent_shape
        self.net = nn.Sequential(
            nn.LayerNorm([c, h, w], elementwise_affine=False),
            nn.Conv2d(c, channels, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.SiLU(),
            nn.Flatten(),
            nn.Linear(channels * h * w, out_dim),
            nn.LayerNorm(out_dim),
            nn.SiLU(),
        )
        self.out_dim = out_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)
