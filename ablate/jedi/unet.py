"""The denoiser's inner network: a single-resolution residual net at the latent's size.

JEDI works at the latent resolution (no down/upsampling, ~160 channels in the follow-up paper);
the conditioning (noise level + last actions) enters every block through adaptive group norm, and
the last latents are concatenated on channels with the noisy next latent, as in DIAMOND.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ablate.config import Config
from ablate.jedi.encoder import group_norm


class FourierFeatures(nn.Module):
    """Random Fourier features of the scalar noise level (fixed, not trained)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.randn(1, channels // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = 2 * math.pi * x.unsqueeze(1) * self.weight
        return torch.cat([f.cos(), f.sin()], dim=-1)


class AdaGroupNorm(nn.Module):
    """Group norm whose scale and shift are predicted from the conditioning vector."""

    def __init__(self, channels: int, cond_channels: int) -> None:
        super().__init__()
        self.norm = group_norm(channels, affine=False)
        self.linear = nn.Linear(cond_channels, 2 * channels)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.linear(cond)[:, :, None, None].chunk(2, dim=1)
        return self.norm(x) * (1 + scale) + shift


class AdaResidualBlock(nn.Module):
    def __init__(self, channels: int, cond_channels: int) -> None:
        super().__init__()
        self.norm1 = AdaGroupNorm(channels, cond_channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = AdaGroupNorm(channels, cond_channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x, cond)))
        h = self.conv2(F.silu(self.norm2(h, cond)))
        return x + h


class InnerModel(nn.Module):
    """F_theta of EDM: (c_in * noisy next latent, c_noise, last latents, last actions) -> output."""

    def __init__(self, config: Config, num_actions: int) -> None:
        super().__init__()
        latent_channels = config.world_model.latent_shape[0]
        n_cond = config.world_model.num_conditioning
        d = config.denoiser
        self.noise_embedding = FourierFeatures(d.cond_channels)
        # DIAMOND: each of the last n actions gets cond_channels / n dimensions, concatenated.
        self.action_embedding = nn.Embedding(num_actions, d.cond_channels // n_cond)
        self.cond_mlp = nn.Sequential(
            nn.Linear(d.cond_channels, d.cond_channels), nn.SiLU(), nn.Linear(d.cond_channels, d.cond_channels)
        )
        self.conv_in = nn.Conv2d((n_cond + 1) * latent_channels, d.channels, 3, padding=1)
        self.blocks = nn.ModuleList(AdaResidualBlock(d.channels, d.cond_channels) for _ in range(d.num_blocks))
        self.norm_out = group_norm(d.channels)
        self.conv_out = nn.Conv2d(d.channels, latent_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(
        self, noisy: torch.Tensor, c_noise: torch.Tensor, latent_cond: torch.Tensor, action_cond: torch.Tensor
    ) -> torch.Tensor:
        """noisy: (B, C, H, W); c_noise: (B,); latent_cond: (B, n, C, H, W); action_cond: (B, n) long."""
        cond = self.cond_mlp(self.noise_embedding(c_noise) + self.action_embedding(action_cond).flatten(1))
        x = self.conv_in(torch.cat([latent_cond.flatten(1, 2), noisy], dim=1))
        for block in self.blocks:
            x = block(x, cond)
        return self.conv_out(F.silu(self.norm_out(x)))
