"""Frame -> latent: the JEDI encoder, the tanh clamp, and the optional pixel decoder."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ablate.config import Config


def clamp(z: torch.Tensor, scale: float) -> torch.Tensor:
    """JEDI's soft clamp s * tanh(z / s): keeps latents in (-s, s), identity near 0."""
    return scale * torch.tanh(z / scale)


def norm_groups(channels: int) -> int:
    """DIAMOND's GroupNorm groups: 32 channels each (`models/blocks.py`), one group below 64 channels."""
    return max(1, channels // 32)


def group_norm(channels: int, affine: bool = True) -> nn.GroupNorm:
    return nn.GroupNorm(norm_groups(channels), channels, affine=affine)


class ResidualBlock(nn.Module):
    """Pre-activation residual block (norm, SiLU, 3x3 conv, twice)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = group_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


def stage_channels(config: Config) -> list[int]:
    """JEDI: [32, 32, 32, 16] for 16x8x8; one more stage per extra halving, the last with C channels."""
    wm = config.world_model
    return [wm.encoder_channels] * config.encoder_downsamples + [wm.latent_shape[0]]


class Encoder(nn.Module):
    """64x64x3 frame in [-1, 1] -> latent C x H x W (clamped when the clamp is on)."""

    def __init__(self, config: Config) -> None:
        super().__init__()
        wm = config.world_model
        channels = stage_channels(config)
        self.clamp_scale = wm.clamp_scale if wm.clamp else None
        self.stem = nn.Conv2d(3, channels[0], 3, padding=1)
        stages: list[nn.Module] = []
        in_ch = channels[0]
        for i, out_ch in enumerate(channels):
            for _ in range(wm.encoder_res_blocks):
                stages.append(ResidualBlock(in_ch, out_ch))
                in_ch = out_ch
            if i < config.encoder_downsamples:
                stages.append(nn.Conv2d(in_ch, in_ch, 3, stride=2, padding=1))
        self.stages = nn.Sequential(*stages)
        self.out = nn.Sequential(group_norm(in_ch), nn.SiLU(), nn.Conv2d(in_ch, wm.latent_shape[0], 3, padding=1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        z = self.out(self.stages(self.stem(frames)))
        return clamp(z, self.clamp_scale) if self.clamp_scale is not None else z


class Decoder(nn.Module):
    """Latent -> 64x64x3 frame in [-1, 1]; only for the reconstruction-gradient ablation."""

    def __init__(self, config: Config) -> None:
        super().__init__()
        wm = config.world_model
        channels = list(reversed(stage_channels(config)))
        layers: list[nn.Module] = [nn.Conv2d(wm.latent_shape[0], channels[0], 3, padding=1)]
        in_ch = channels[0]
        for i, out_ch in enumerate(channels):
            for _ in range(wm.encoder_res_blocks):
                layers.append(ResidualBlock(in_ch, out_ch))
                in_ch = out_ch
            if i < config.encoder_downsamples:
                layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(in_ch, in_ch, 3, padding=1)]
        layers += [group_norm(in_ch), nn.SiLU(), nn.Conv2d(in_ch, 3, 3, padding=1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)
