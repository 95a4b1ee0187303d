"""DIAMOND's Euler sampler over latents (or, in pixel space, frames): Karras sigma schedule, optional churn.

As in DIAMOND (`models/diffusion/diffusion_sampler.py`) the initial sample has unit variance by
default (`sampler.initial_noise`), although the first step is taken at sigma_max.
"""

from __future__ import annotations

import torch

from ablate.config import SamplerConfig
from ablate.jedi.denoiser import Denoiser


def karras_sigmas(cfg: SamplerConfig, device: torch.device) -> torch.Tensor:
    """num_steps noise levels from sigma_max down to sigma_min (rho spacing), then a final 0."""
    ramp = torch.linspace(0, 1, cfg.num_steps, device=device, dtype=torch.float64)
    lo, hi = cfg.sigma_min ** (1 / cfg.rho), cfg.sigma_max ** (1 / cfg.rho)
    sigmas = (hi + ramp * (lo - hi)) ** cfg.rho
    return torch.cat([sigmas, sigmas.new_zeros(1)]).float()


class EulerSampler:
    def __init__(self, denoiser: Denoiser, cfg: SamplerConfig) -> None:
        self.denoiser = denoiser
        self.cfg = cfg
        self._sigmas: dict[torch.device, torch.Tensor] = {}

    def sigmas(self, device: torch.device) -> torch.Tensor:
        if device not in self._sigmas:
            self._sigmas[device] = karras_sigmas(self.cfg, device)
        return self._sigmas[device]

    @torch.no_grad()
    def sample(self, latent_cond: torch.Tensor, action_cond: torch.Tensor) -> torch.Tensor:
        """The next latent given the last latents (B, n, C, H, W) and actions (B, n)."""
        if self.denoiser.mse_predictor:
            return self.denoiser.predict(latent_cond, action_cond)
        b, _, c, h, w = latent_cond.shape
        sigmas = self.sigmas(latent_cond.device)
        x = torch.randn(b, c, h, w, device=latent_cond.device)
        if self.cfg.initial_noise == "sigma_max":
            x = x * sigmas[0]
        gamma = min(self.cfg.s_churn / self.cfg.num_steps, 2**0.5 - 1)
        # Python floats for the schedule would force a device->host copy per step; index the tensor instead.
        for i in range(self.cfg.num_steps):
            sigma, sigma_next = sigmas[i], sigmas[i + 1]
            sigma_hat = sigma * (1 + gamma)
            if gamma > 0:
                x = x + torch.randn_like(x) * (sigma_hat**2 - sigma**2).sqrt()
            # DIAMOND calls the denoiser at the scheduled sigma, and steps from the churned one.
            denoised = self.denoiser.denoise(x, sigma.expand(b), latent_cond, action_cond)
            x = x + (x - denoised) / sigma_hat * (sigma_next - sigma_hat)
        return x
