"""A run's work in the units it is made of (environment steps, each component's gradient steps, evaluation
episodes), what is done of it, and an ETA that weighs each kind of unit by its own measured cost.

An epoch's units differ in cost by orders of magnitude (an environment step against a gradient step) and the first
epoch holds most of the gradient steps, so neither epochs nor raw unit counts make an honest ETA.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ablate.config import Config

ENV_STEPS, EVAL_EPISODES = "env_steps", "eval_episodes"
GRADIENT_KINDS = ("world_model", "reward_end", "actor_critic")
KINDS = (ENV_STEPS, *GRADIENT_KINDS, EVAL_EPISODES)


def scheduled(config: Config, epochs: int, total_epochs: int, env_steps: int) -> dict[str, int]:
    """The units of the first `epochs` epochs of a `total_epochs` schedule; `env_steps` collected by then."""
    tr = config.training
    first = {
        "world_model": tr.first_epoch_world_model_steps,
        "reward_end": tr.first_epoch_reward_end_steps,
        "actor_critic": tr.first_epoch_actor_critic_steps,
    }
    later = {
        "world_model": tr.world_model_steps,
        "reward_end": tr.reward_end_steps,
        "actor_critic": tr.actor_critic_steps,
    }
    units = {kind: (first[kind] if epochs else 0) + max(0, epochs - 1) * later[kind] for kind in GRADIENT_KINDS}
    units[ENV_STEPS] = env_steps
    units[EVAL_EPISODES] = tr.eval_episodes * (epochs // tr.eval_every_epochs)
    if epochs == total_epochs:
        units[EVAL_EPISODES] += tr.final_eval_episodes
    return units


@dataclass
class Work:
    total: dict[str, int]
    done: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    # Units timed in this process and the seconds they took: a resumed run's earlier units were not timed here.
    timed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(KINDS, 0.0))
    eval_episode_steps: float = 1.0  # environment steps an evaluation episode is expected to take, per env

    def add(self, kind: str, units: int, seconds: float) -> None:
        self.done[kind] += units
        self.timed[kind] += units
        self.seconds[kind] += seconds

    def _cost(self, kind: str) -> float | None:
        """Seconds per unit of `kind`: measured, else estimated from a kind that was (a gradient step costs
        about what another does; an evaluation episode what its environment steps do)."""
        if self.timed[kind]:
            return self.seconds[kind] / self.timed[kind]
        if kind == EVAL_EPISODES:
            step = self._cost(ENV_STEPS)
            return None if step is None else step * self.eval_episode_steps
        measured = [self.seconds[k] / self.timed[k] for k in GRADIENT_KINDS if self.timed[k]]
        if kind in GRADIENT_KINDS and measured:
            return sum(measured) / len(measured)
        return None

    def eta_s(self) -> float | None:
        """Seconds left; None until every kind with work left has a measured or estimated cost."""
        left = 0.0
        for kind in KINDS:
            remaining = max(0, self.total[kind] - self.done[kind])
            if remaining:
                cost = self._cost(kind)
                if cost is None:
                    return None
                left += remaining * cost
        return left

    def fraction(self) -> float:
        """The share done, weighing each unit by its cost where every cost is known, else counting units."""
        costs = {kind: self._cost(kind) for kind in KINDS if self.total[kind]}
        if any(cost is None for cost in costs.values()):
            total = sum(self.total.values())
            return min(1.0, sum(self.done.values()) / total) if total else 0.0
        whole = sum(self.total[kind] * (cost or 0.0) for kind, cost in costs.items())
        done = sum(min(self.done[kind], self.total[kind]) * (cost or 0.0) for kind, cost in costs.items())
        return done / whole if whole else 1.0


def format_eta(seconds: float | None) -> str:
    """H:MM:SS, or -:--:-- while unknown."""
    if seconds is None:
        return "-:--:--"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"
