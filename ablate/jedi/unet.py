"""The denoiser's inner network and the conditioned blocks it is built of (DIAMOND's `models/blocks.py`).

JEDI works at the latent resolution: a single-level stack of residual blocks (no down/upsampling,
~160 channels in the follow-up paper). DIAMOND, in pixel space, runs a U-Net over the 64x64 frame
(`models/diffusion/inner_model.py`). Either way the conditioning (noise level + last actions) enters
every block through adaptive group norm, and the last states are concatenated on channels with the
noisy next state, as in DIAMOND.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ablate.config import FRAME_CHANNELS, Config
from ablate.jedi.encoder import group_norm


class FourierFeatures(nn.Module):
    """Random Fourier features of the scalar noise level (fixed, not trained)."""

    weight: torch.Tensor  # a buffer: nn.Module types the attributes register_buffer makes as tensor or module

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


class SelfAttention2d(nn.Module):
    """DIAMOND's `SelfAttention2d`: multi-head attention over positions, heads of 8 channels.

    As in DIAMOND, the residual is added to the normalised input, not to the input itself.
    """

    def __init__(self, channels: int, head_channels: int = 8) -> None:
        super().__init__()
        self.heads = max(1, channels // head_channels)
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        for p in self.out.parameters():
            nn.init.zeros_(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        x = self.norm(x)
        qkv = self.qkv(x).view(b, 3 * self.heads, c // self.heads, h * w).transpose(2, 3)
        y = F.scaled_dot_product_attention(*qkv.chunk(3, dim=1))
        return x + self.out(y.transpose(2, 3).reshape(b, c, h, w))


class AdaResidualBlock(nn.Module):
    """DIAMOND's `ResBlock`: (adaptive norm, SiLU, 3x3 conv) twice plus a skip (1x1 when the width changes), then
    optional self-attention. The second conv starts at zero, so a block starts as its skip."""

    def __init__(self, in_channels: int, out_channels: int, cond_channels: int, attention: bool = False) -> None:
        super().__init__()
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)
        self.norm1 = AdaGroupNorm(in_channels, cond_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = AdaGroupNorm(out_channels, cond_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        for p in self.conv2.parameters():  # weight and bias; DIAMOND leaves the bias at PyTorch's default
            nn.init.zeros_(p)
        self.attention = SelfAttention2d(out_channels) if attention else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x, cond)))
        h = self.conv2(F.silu(self.norm2(h, cond)))
        return self.attention(self.skip(x) + h)


class Downsample(nn.Module):
    """DIAMOND's `Downsample`: a strided 3x3 conv, orthogonally initialised."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)
        nn.init.orthogonal_(self.conv.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """DIAMOND's `Upsample`: nearest-neighbour doubling, then a 3x3 conv."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class UNet(nn.Module):
    """DIAMOND's `UNet` (`models/blocks.py`), conditioned through adaptive group norm.

    Level i holds `depths[i]` blocks at `channels[i]` on the way down, the resolution halving between levels
    (64x64 to 8x8 over four levels); two middle blocks with self-attention at the lowest resolution (DIAMOND's
    `mid_blocks`, whatever `attn_depths` says: the published config has attention nowhere else); on the way up
    `depths[i] + 1` blocks per level, each reading the concatenation of its input and one activation saved on the
    way down, the last of them first. 64x64 is a multiple of 8, so DIAMOND's padding of odd sizes never applies.
    """

    def __init__(self, channels: Sequence[int], depths: Sequence[int], cond_channels: int) -> None:
        super().__init__()
        down: list[nn.ModuleList] = []
        up: list[nn.ModuleList] = []
        for i, (width, depth) in enumerate(zip(channels, depths, strict=True)):
            previous = channels[max(0, i - 1)]
            ins = [previous] + [width] * (depth - 1)
            down.append(nn.ModuleList(AdaResidualBlock(c, width, cond_channels) for c in ins))
            pairs = zip([2 * width] * depth + [previous + width], [width] * depth + [previous], strict=True)
            up.append(nn.ModuleList(AdaResidualBlock(c_in, c_out, cond_channels) for c_in, c_out in pairs))
        self.down_blocks = nn.ModuleList(down)
        self.up_blocks = nn.ModuleList(reversed(up))
        self.mid_blocks = nn.ModuleList(
            AdaResidualBlock(channels[-1], channels[-1], cond_channels, attention=True) for _ in range(2)
        )
        self.downsamples = nn.ModuleList([nn.Identity(), *(Downsample(c) for c in channels[:-1])])
        self.upsamples = nn.ModuleList([nn.Identity(), *(Upsample(c) for c in reversed(channels[:-1]))])

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        saved = []
        for blocks, downsample in zip(self.down_blocks, self.downsamples, strict=True):
            x = downsample(x)
            saved.append(x)
            for block in blocks.children():
                x = block(x, cond)
                saved.append(x)
        for block in self.mid_blocks:
            x = block(x, cond)
        for blocks, upsample in zip(self.up_blocks, self.upsamples, strict=True):
            x = upsample(x)
            for block in blocks.children():
                x = block(torch.cat([x, saved.pop()], dim=1), cond)
        return x


class InnerModel(nn.Module):
    """F_theta of EDM: (c_in * noisy next state, c_noise, last states, last actions) -> output.

    The state is a latent C x H x W, or in pixel space a 3 x 64 x 64 frame (DIAMOND's `InnerModel`).
    """

    def __init__(self, config: Config, num_actions: int) -> None:
        super().__init__()
        pixel = config.world_model.space == "pixel"
        state_channels = FRAME_CHANNELS if pixel else config.world_model.latent_shape[0]
        n_cond = config.world_model.num_conditioning
        d = config.denoiser
        width = d.unet_channels[0] if pixel else d.channels
        self.noise_embedding = FourierFeatures(d.cond_channels)
        # DIAMOND: each of the last n actions gets cond_channels / n dimensions, concatenated.
        self.action_embedding = nn.Embedding(num_actions, d.cond_channels // n_cond)
        self.cond_mlp = nn.Sequential(
            nn.Linear(d.cond_channels, d.cond_channels), nn.SiLU(), nn.Linear(d.cond_channels, d.cond_channels)
        )
        self.conv_in = nn.Conv2d((n_cond + 1) * state_channels, width, 3, padding=1)
        latent_blocks = () if pixel else (AdaResidualBlock(width, width, d.cond_channels) for _ in range(d.num_blocks))
        self.blocks = nn.ModuleList(latent_blocks)
        self.unet = UNet(d.unet_channels, d.unet_depths, d.cond_channels) if pixel else None
        self.norm_out = group_norm(width)
        self.conv_out = nn.Conv2d(width, state_channels, 3, padding=1)
        for p in self.conv_out.parameters():  # weight and bias; DIAMOND leaves the bias at PyTorch's default
            nn.init.zeros_(p)

    def forward(
        self, noisy: torch.Tensor, c_noise: torch.Tensor, latent_cond: torch.Tensor, action_cond: torch.Tensor
    ) -> torch.Tensor:
        """noisy: (B, C, H, W); c_noise: (B,); latent_cond: (B, n, C, H, W); action_cond: (B, n) long."""
        cond = self.cond_mlp(self.noise_embedding(c_noise) + self.action_embedding(action_cond).flatten(1))
        x = self.conv_in(torch.cat([latent_cond.flatten(1, 2), noisy], dim=1))
        for block in self.blocks:
            x = block(x, cond)
        if self.unet is not None:
            x = self.unet(x, cond)
        return self.conv_out(F.silu(self.norm_out(x)))
