"""One AdamW per component, as DIAMOND configures them: decay groups, linear warm-up from 0, gradient clipping.

The encoder is stepped by the world model's optimiser and, end to end (`reward_end.encoder_grad`), by the
reward model's too, both at the encoder's learning rate (JEDI: 0.3x the others').
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from ablate.config import Config

if TYPE_CHECKING:
    from ablate.jedi.agent import Agent


class Optimiser:
    """AdamW with linear warm-up from 0 and gradient-norm clipping, one per component (DIAMOND's settings)."""

    def __init__(self, groups: list[dict], config: Config, clip: float) -> None:
        tr = config.training
        # On CUDA the fused kernel updates every parameter in a few launches instead of several per tensor;
        # None leaves PyTorch's default elsewhere.
        fused = True if all(p.is_cuda for g in groups for p in g["params"]) else None
        self.opt = torch.optim.AdamW(groups, lr=tr.lr, eps=tr.adam_eps, fused=fused)
        warmup = max(1, tr.warmup_steps)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda step: min(1.0, step / warmup))
        self.params = [p for g in groups for p in g["params"]]
        self.clip = clip

    def step(self, loss: torch.Tensor) -> torch.Tensor:
        """Backward, clip, update; returns the pre-clip gradient norm as a device tensor (no sync)."""
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        self.opt.step()
        self.schedule.step()
        return norm

    def state_dict(self) -> dict:
        return {"opt": self.opt.state_dict(), "schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.opt.load_state_dict(state["opt"])
        self.schedule.load_state_dict(state["schedule"])


_DECAYED_MODULES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.LSTM, nn.LSTMCell)


def decay_groups(module: nn.Module, lr: float, weight_decay: float) -> list[dict]:
    """DIAMOND's `configure_opt`: weights of linear, convolutional and LSTM layers decay; biases, norm
    weights and embeddings do not. Two AdamW parameter groups at learning rate `lr`."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for sub in module.modules():
        for name, p in sub.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            is_weight = name.endswith("weight") or name.startswith("weight_")
            (decay if is_weight and isinstance(sub, _DECAYED_MODULES) else no_decay).append(p)
    groups = [
        {"params": decay, "lr": lr, "weight_decay": weight_decay},
        {"params": no_decay, "lr": lr, "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


def build_optimisers(agent: Agent, config: Config) -> dict[str, Optimiser]:
    tr, wm = config.training, agent.world_model
    # JEDI: the encoder learns at 0.3x the denoiser's learning rate.
    encoder_lr = tr.lr * config.world_model.encoder_lr_scale
    rest = [m for name, m in wm.named_children() if name not in ("encoder", "target_encoder")]
    wm_groups = [g for m in rest for g in decay_groups(m, tr.lr, tr.world_model_weight_decay)]
    wm_groups += decay_groups(wm.encoder, encoder_lr, tr.world_model_weight_decay)
    reward_groups = decay_groups(agent.reward_end, tr.lr * tr.reward_end_lr_scale, tr.reward_end_weight_decay)
    if config.reward_end.encoder_grad:
        # End to end, the reward loss's step updates the encoder too, at the encoder's learning rate; its
        # weight decay is applied once, by the world model's step.
        reward_groups += decay_groups(wm.encoder, encoder_lr, 0.0)
    return {
        "world_model": Optimiser(wm_groups, config, tr.world_model_grad_clip),
        "reward_end": Optimiser(reward_groups, config, tr.reward_end_grad_clip),
        "actor_critic": Optimiser(
            decay_groups(agent.actor_critic, tr.lr * tr.actor_critic_lr_scale, tr.actor_critic_weight_decay),
            config,
            tr.actor_critic_grad_clip,
        ),
    }
