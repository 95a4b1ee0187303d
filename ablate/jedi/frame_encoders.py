"""How DIAMOND's reward/termination model and actor-critic read 64x64x3 frames (pixel space).

Both are DIAMOND's own convolutional encoders, at its channels (eloialonso/diamond
`config/agent/default.yaml`); each stands in for the net that reads a latent in JEDI's components
(`latent_net.LatentFeatures`, `reward_end.ConditionedTrunk`), so the LSTMs, heads and losses are shared.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ablate.config import FRAME_CHANNELS, FRAME_SIZE
from ablate.jedi.encoder import group_norm
from ablate.jedi.unet import AdaResidualBlock, Downsample

LEVELS = 4  # DIAMOND's encoders have four stages: 64x64 frames down to 8x8 (reward model) or 4x4 (actor-critic)


class RewEndEncoder(nn.Module):
    """DIAMOND's `RewEndEncoder` (`models/rew_end_model.py`) over a frame pair, conditioned on the action.

    A 3x3 conv, then four levels of `num_blocks` residual blocks whose adaptive group norm reads the action's
    embedding, the resolution halving between levels (64x64 to 8x8), then two blocks with self-attention;
    flattened for the LSTM (DIAMOND's channels [32] * 4 and depths [2] * 4: 32 x 8 x 8 = 2,048 features).
    """

    def __init__(self, channels: int, cond_channels: int, num_blocks: int) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(2 * FRAME_CHANNELS, channels, 3, padding=1)
        self.levels = nn.ModuleList(
            nn.ModuleList(AdaResidualBlock(channels, channels, cond_channels) for _ in range(num_blocks))
            for _ in range(LEVELS)
        )
        self.out_blocks = nn.ModuleList(
            AdaResidualBlock(channels, channels, cond_channels, attention=True) for _ in range(2)
        )
        self.downsamples = nn.ModuleList([nn.Identity(), *(Downsample(channels) for _ in range(LEVELS - 1))])
        self.out_dim = channels * (FRAME_SIZE // 2 ** (LEVELS - 1)) ** 2

    def forward(self, pairs: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """pairs: (B, 6, 64, 64), a frame and the next one on channels; cond: (B, cond_channels)."""
        x = self.conv_in(pairs)
        for blocks, downsample in zip(self.levels, self.downsamples, strict=True):
            x = downsample(x)
            for block in blocks.children():
                x = block(x, cond)
        for block in self.out_blocks:
            x = block(x, cond)
        return x.flatten(1)


class SmallResidualBlock(nn.Module):
    """DIAMOND's `SmallResBlock` (`models/blocks.py`): group norm, SiLU, one 3x3 conv, plus a skip (1x1 conv when
    the width changes)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.f = nn.Sequential(group_norm(in_channels), nn.SiLU(), nn.Conv2d(in_channels, out_channels, 3, padding=1))
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.f(x)


class ActorCriticEncoder(nn.Module):
    """DIAMOND's `ActorCriticEncoder` (`models/actor_critic.py`): a 3x3 conv, then per stage one small residual
    block and a 2x2 max-pool (its `down` [1, 1, 1, 1]), 64x64 down to 4x4; flattened (DIAMOND's channels
    [32, 32, 64, 64]: 64 x 4 x 4 = 1,024 features)."""

    def __init__(self, channels: Sequence[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(FRAME_CHANNELS, channels[0], 3, padding=1)]
        for i, width in enumerate(channels):
            layers += [SmallResidualBlock(channels[max(0, i - 1)], width), nn.MaxPool2d(2)]
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.out_dim = channels[-1] * (FRAME_SIZE // 2 ** len(channels)) ** 2

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.net(frames)
