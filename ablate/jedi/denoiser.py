"""EDM denoiser over latents, or frames in pixel space (Karras et al. 2022): preconditioning, training noise, the loss.

With `world_model.predictor = "mse"` the same network is a deterministic one-step predictor
(the papers' "MSE predictor instead of diffusion" ablation): no noise, plain regression.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ablate.config import Config
from ablate.jedi.encoder import clamp
from ablate.jedi.unet import InnerModel


@dataclass
class Preconditioners:
    c_in: torch.Tensor
    c_out: torch.Tensor
    c_skip: torch.Tensor
    c_noise: torch.Tensor


def edm_preconditioners(sigma: torch.Tensor, sigma_data: float, sigma_offset_noise: float = 0.0) -> Preconditioners:
    """c_in = 1/sqrt(s^2+sd^2), c_skip = sd^2/(s^2+sd^2), c_out = s*sqrt(c_skip) (JEDI.md), c_noise = ln(s)/4.

    As in DIAMOND, s is the effective noise level sqrt(sigma^2 + offset^2): the per-channel offset
    noise added in training counts as noise, which keeps the regression target bounded at small sigma.
    sigma: (B,); the scales come back shaped (B, 1, 1, 1) to broadcast over latents.
    """
    sigma = (sigma**2 + sigma_offset_noise**2).sqrt()
    s = sigma[:, None, None, None]
    c_in = 1 / (s**2 + sigma_data**2).sqrt()
    c_skip = sigma_data**2 / (s**2 + sigma_data**2)
    c_out = s * c_skip.sqrt()
    return Preconditioners(c_in=c_in, c_out=c_out, c_skip=c_skip, c_noise=sigma.log() / 4)


def quantise(frames: torch.Tensor) -> torch.Tensor:
    """DIAMOND's `wrap_model_output` (`models/diffusion/denoiser.py`): clamp to [-1, 1], truncate to 8 bits.

    No gradient passes, as in DIAMOND (there a prediction is only ever fed forward detached).
    """
    with torch.no_grad():
        return frames.clamp(-1, 1).add(1).div(2).mul(255).byte().div(255).mul(2).sub(1)


class Denoiser(nn.Module):
    def __init__(self, config: Config, num_actions: int) -> None:
        super().__init__()
        self.cfg = config.denoiser
        self.mse_predictor = config.world_model.predictor == "mse"
        self.pixel = config.world_model.space == "pixel"
        self.clamp_scale = config.world_model.clamp_scale if config.world_model.clamp else None
        self.inner = InnerModel(config, num_actions)

    def _clamp(self, z: torch.Tensor) -> torch.Tensor:
        """The estimate as a state: a latent clamped (JEDI, unless the clamp is off); a frame quantised (DIAMOND)."""
        if self.pixel:
            return quantise(z)
        return clamp(z, self.clamp_scale) if self.clamp_scale is not None else z

    def sample_sigma(self, n: int, device: torch.device) -> torch.Tensor:
        """Log-normal training noise levels, clipped (DIAMOND: loc -0.4, scale 1.2, [2e-3, 20])."""
        d = self.cfg
        sigma = (torch.randn(n, device=device) * d.noise_scale + d.noise_loc).exp()
        return sigma.clip(d.noise_sigma_min, d.noise_sigma_max)

    def denoise(
        self, noisy: torch.Tensor, sigma: torch.Tensor, latent_cond: torch.Tensor, action_cond: torch.Tensor
    ) -> torch.Tensor:
        """D(x; sigma) = c_skip x + c_out F(c_in x, c_noise): the estimate of the clean next latent."""
        if self.mse_predictor:
            return self.predict(latent_cond, action_cond)
        p = edm_preconditioners(sigma, self.cfg.sigma_data, self.cfg.sigma_offset_noise)
        out = self.inner(noisy * p.c_in, p.c_noise, self._rescale(latent_cond), action_cond)
        return self._clamp(p.c_skip * noisy + p.c_out * out.float())

    def _rescale(self, latent_cond: torch.Tensor) -> torch.Tensor:
        """DIAMOND divides the conditioning frames by sigma_data, so they enter at the noisy input's unit scale."""
        return latent_cond / self.cfg.sigma_data

    def predict(self, latent_cond: torch.Tensor, action_cond: torch.Tensor) -> torch.Tensor:
        """The deterministic predictor: the network sees no noisy input and a fixed noise level."""
        b, _, c, h, w = latent_cond.shape
        zeros = latent_cond.new_zeros(b, c, h, w)
        return self._clamp(self.inner(zeros, latent_cond.new_zeros(b), self._rescale(latent_cond), action_cond).float())

    def loss(
        self, target: torch.Tensor, latent_cond: torch.Tensor, action_cond: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample denoising loss (B,) and the clamped prediction of the clean latent (B, C, H, W).

        The EDM loss regresses F onto (target - c_skip x) / c_out, which is the weighted MSE of
        D(x; sigma) against the target with Karras' lambda(sigma) weighting.
        """
        if self.mse_predictor:
            prediction = self.predict(latent_cond, action_cond)
            return F.mse_loss(prediction, target, reduction="none").flatten(1).mean(1), prediction
        b, c = target.shape[:2]
        sigma = self.sample_sigma(b, target.device)
        offset = self.cfg.sigma_offset_noise * torch.randn(b, c, 1, 1, device=target.device)
        noisy = target + offset + torch.randn_like(target) * sigma[:, None, None, None]
        p = edm_preconditioners(sigma, self.cfg.sigma_data, self.cfg.sigma_offset_noise)
        out = self.inner(noisy * p.c_in, p.c_noise, self._rescale(latent_cond), action_cond).float()
        goal = (target - p.c_skip * noisy) / p.c_out
        loss = F.mse_loss(out, goal, reduction="none").flatten(1).mean(1)
        return loss, self._clamp(p.c_skip * noisy + p.c_out * out)
