"""The agent: the three trained components and their parameter counts."""

from __future__ import annotations

from torch import nn

from ablate.config import Config
from ablate.jedi.actor_critic import ActorCritic
from ablate.jedi.reward_end import RewardEndModel
from ablate.jedi.world_model import WorldModel


class Agent(nn.Module):
    """The three trained components of JEDI (or, in pixel space, of DIAMOND)."""

    def __init__(self, config: Config, num_actions: int) -> None:
        super().__init__()
        self.world_model = WorldModel(config, num_actions)
        self.reward_end = RewardEndModel(config, num_actions)
        self.actor_critic = ActorCritic(config, num_actions)


# The whole agent's published size (JEDI.md section 5) in each space. At DIAMOND's sizes our pixel agent has the
# 13,535,751 parameters (3 actions) that eloialonso/diamond's own modules have.
PUBLISHED_PARAMETERS = {"latent": ("JEDI", 13.5e6), "pixel": ("DIAMOND", 13.5e6)}


def parameter_counts(agent: Agent) -> dict[str, int]:
    """Trainable parameters per component (an EMA target encoder is a copy, not counted; pixel space has no encoder)."""

    def count(module: nn.Module) -> int:
        return sum(p.numel() for p in module.parameters() if p.requires_grad)

    wm = agent.world_model
    counts = {} if wm.pixel else {"encoder": count(wm.encoder)}
    counts["denoiser"] = count(wm.denoiser)
    if wm.decoder is not None:
        counts["decoder"] = count(wm.decoder)
    counts |= {"reward_end": count(agent.reward_end), "actor_critic": count(agent.actor_critic)}
    counts["total"] = sum(counts.values())
    return counts
