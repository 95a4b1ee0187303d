"""Encoder + latent denoiser trained end to end: where every JEDI ablation switch acts.

- `stop_gradient`: `target` detaches the target latent (and the noisy input built from it), so the
  encoder learns only through the conditioning latents; `none` lets the loss reach the encoder
  through the target too; `both` also detaches the conditioning latents (no dynamics gradient
  reaches the encoder).
- Random switching: training unrolls `unroll_steps` predictions; before each next step a coin with
  P(heads) = `switch_prob`, one per batch, decides whether the next conditioning latent is the
  denoiser's (clamped) prediction or the encoder's output. `alternate` flips deterministically
  from one training step to the next instead. A switched-in prediction is fed forward with its
  gradient (`feed_forward_grad`, JEDI: later steps' losses shape the current representation);
  false detaches it, as DIAMOND's autoregressive training step does.
- `target_encoder = "ema"`: targets come from an exponential moving average of the encoder.
- `decoder`: adds a pixel decoder whose reconstruction loss trains the encoder as well.

In pixel space (`space = "pixel"`, DIAMOND) there is no encoder: a frame is its own latent (the encoder is
the identity), so the denoiser is trained on frames, and every later unrolled step conditions on the
step's detached, quantised prediction, as DIAMOND's `Denoiser.forward` does (none of the switches above apply).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from ablate.config import Config
from ablate.jedi.denoiser import Denoiser
from ablate.jedi.encoder import Decoder, Encoder


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the entries where mask is true (padding excluded); 0 when none is."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1)


class WorldModel(nn.Module):
    train_steps: torch.Tensor  # a buffer: nn.Module types the attributes register_buffer makes as tensor or module

    def __init__(self, config: Config, num_actions: int) -> None:
        super().__init__()
        self.cfg = config.world_model
        self.pixel = self.cfg.space == "pixel"
        self.encoder: nn.Module = nn.Identity() if self.pixel else Encoder(config)
        self.denoiser = Denoiser(config, num_actions)
        self.target_encoder: nn.Module | None = None
        if self.cfg.target_encoder == "ema":
            self.target_encoder = copy.deepcopy(self.encoder).requires_grad_(False)
        self.decoder = Decoder(config) if self.cfg.decoder else None
        self.register_buffer("train_steps", torch.zeros((), dtype=torch.long))

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames (..., 3, 64, 64) in [-1, 1] -> latents (..., C, H, W)."""
        lead = frames.shape[:-3]
        z = self.encoder(frames.flatten(0, len(lead) - 1))
        return z.unflatten(0, lead)

    def _targets(self, frames: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if self.target_encoder is not None:
            with torch.no_grad():
                lead = frames.shape[:-3]
                return self.target_encoder(frames.flatten(0, len(lead) - 1)).unflatten(0, lead)
        return z if self.cfg.stop_gradient == "none" else z.detach()

    def _switch(self, device: torch.device) -> torch.Tensor:
        """One decision per batch (JEDI): feed the prediction forward? A 0-dim bool tensor (no host sync)."""
        if self.cfg.switch_mode == "alternate":
            return self.train_steps % 2 == 1
        return torch.rand((), device=device) < self.cfg.switch_prob

    def _next_condition(self, prediction: torch.Tensor, encoded: torch.Tensor) -> torch.Tensor:
        """What the next unrolled step conditions on in place of this step's encoded latent."""
        if self.pixel:  # DIAMOND: always the prediction, detached
            return prediction.detach()
        fed = prediction if self.cfg.feed_forward_grad else prediction.detach()
        return torch.where(self._switch(encoded.device), fed, encoded)

    def loss(
        self, frames: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """frames (B, T, 3, 64, 64) in [-1, 1], actions (B, T) long, mask (B, T) real-frame mask.

        T = num_conditioning + unroll_steps. Returns the scalar loss and detached diagnostics.
        """
        n = self.cfg.num_conditioning
        z = self.encode(frames)
        targets = self._targets(frames, z)
        context = z.detach() if self.cfg.stop_gradient == "both" else z
        window = list(context[:, :n].unbind(1))
        losses = []
        for u in range(self.cfg.unroll_steps):
            t = n + u
            per_sample, prediction = self.denoiser.loss(
                targets[:, t], torch.stack(window[-n:], 1), actions[:, t - n : t]
            )
            # Padding frames inside the window are masked out of the loss (segments may start before an episode).
            losses.append(masked_mean(per_sample, mask[:, t]))
            if u + 1 < self.cfg.unroll_steps:
                window.append(self._next_condition(prediction, context[:, t]))
        dynamics = torch.stack(losses).mean()
        total = dynamics
        metrics = {"world_model/dynamics_loss": dynamics.detach()}
        if self.decoder is not None:
            lead = frames.shape[:2]
            recon = self.decoder(z.flatten(0, 1).float()).unflatten(0, lead)
            recon_loss = masked_mean(F.mse_loss(recon, frames, reduction="none").flatten(2).mean(2), mask)
            total = total + self.cfg.decoder_weight * recon_loss
            metrics["world_model/reconstruction_loss"] = recon_loss.detach()
        if not self.pixel:
            metrics.update(latent_statistics(z.detach(), mask, self.cfg.clamp_scale))
        return total, metrics

    @torch.no_grad()
    def after_step(self) -> None:
        """Per optimiser step bookkeeping: the alternation counter and the EMA target."""
        self.train_steps += 1
        if self.target_encoder is not None:
            torch._foreach_lerp_(
                list(self.target_encoder.parameters()), list(self.encoder.parameters()), 1 - self.cfg.ema_decay
            )


def latent_statistics(z: torch.Tensor, mask: torch.Tensor, clamp_scale: float) -> dict[str, torch.Tensor]:
    """Collapse shows as a tiny per-dimension std across the batch; blow-up as latents pinned at the clamp.

    Statistics over the real (unpadded) frames, weighted by the mask rather than selected by it:
    boolean indexing would make the device wait for the host at every world-model step.
    """
    z = z.flatten(0, 1).flatten(1).float()
    w = mask.flatten().to(z.dtype)[:, None]
    count = w.sum()
    mean = (w * z).sum(0) / count.clamp(min=1)
    std = ((w * (z - mean) ** 2).sum(0) / (count - 1).clamp(min=1)).sqrt()
    return {
        "latent/std_mean": std.mean(),
        "latent/std_min": std.min(),
        "latent/abs_max": (w * z.abs()).max(),
        "latent/saturation": (w * (z.abs() >= 0.99 * clamp_scale)).sum() / (count * z.shape[1]).clamp(min=1),
    }
