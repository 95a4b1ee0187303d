"""What the reward/termination model and the actor-critic share: the net that reads a latent, the LSTM init.

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


def init_lstm(lstm: nn.LSTM | nn.LSTMCell) -> None:
    """DIAMOND's LSTM initialisation: Xavier input weights, orthogonal recurrent weights, forget-gate bias 1."""
    for name, p in lstm.named_parameters():
        if name.startswith("weight_ih"):
            nn.init.xavier_uniform_(p)
        elif name.startswith("weight_hh"):
            nn.init.orthogonal_(p)
        elif name.startswith("bias"):
            nn.init.zeros_(p)
            if name.startswith("bias_ih"):
                n = p.shape[0] // 4  # gates are stacked input, forget, cell, output
                nn.init.ones_(p[n : 2 * n])
