"""The trainer's typed configuration and dotted `key=value` overrides; budgets (ablate.budgets) apply over it.

Defaults are JEDI's published values (`shared/reference/JEDI.md` sections 3-4); where the papers are
silent they are DIAMOND's published defaults (eloialonso/diamond `config/`), marked "DIAMOND".
Every field is addressable as `section.field`, which is what variants, `--set` and studies use.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ablate.budgets import BUDGETS
from ablate.errors import UsageError, did_you_mean

FRAME_SIZE = 64
FRAME_CHANNELS = 3  # RGB


@dataclass
class WorldModelConfig:
    """Encoder + latent denoiser: the ablation surface of JEDI; or, in pixel space, DIAMOND's frame denoiser alone."""

    # "latent": JEDI (encoder, latent denoiser, heads on latents). "pixel": DIAMOND's agent as published
    # (eloialonso/diamond `config/agent/default.yaml`): the denoiser works on 64x64x3 frames, the reward model and
    # the actor-critic read frames through their own encoders, and there is no JEDI encoder (SPACE_ONLY below).
    space: Literal["latent", "pixel"] = "latent"
    latent_shape: tuple[int, int, int] = (16, 8, 8)  # C x H x W; the encoder's depth follows from H, W
    encoder_channels: int = 32  # channels of the downsampling stages; the last stage has C channels
    encoder_res_blocks: int = 2  # residual blocks per stage (DIAMOND's UNet depth per level)
    stop_gradient: Literal["target", "none", "both"] = "target"
    switch_mode: Literal["random", "alternate"] = "random"
    switch_prob: float = 0.5  # P(next conditioning latent is the denoiser's prediction)
    # JEDI "unrolls several steps"; 2 is the least that lets a prediction feed forward. DIAMOND: 1
    # (`config/trainer.yaml`, denoiser.training.num_autoregressive_steps), each later step on the detached prediction.
    unroll_steps: int = 2
    clamp: bool = True
    clamp_scale: float = 3.0
    target_encoder: Literal["online", "ema"] = "online"
    ema_decay: float = 0.995  # JEDI reports the EMA ablation without its decay; a common BYOL-style value
    predictor: Literal["diffusion", "mse"] = "diffusion"
    decoder: bool = False
    decoder_weight: float = 1.0
    encoder_lr_scale: float = 0.3
    num_conditioning: int = 4
    # JEDI feeds a switched-in prediction forward with its gradient, so later steps' losses shape the
    # current representation; false detaches it, as DIAMOND's autoregressive training step does.
    feed_forward_grad: bool = True


@dataclass
class DenoiserConfig:
    """EDM denoiser: over latents a single-resolution residual network, over frames DIAMOND's U-Net."""

    channels: int = 160
    num_blocks: int = 7  # ours: the whole agent at 13.8M parameters (JEDI: 13.5M); JEDI: ~160 channels, single level
    # Pixel space: DIAMOND's U-Net (`config/agent/default.yaml`, denoiser.inner_model): channels and residual blocks
    # of its four levels, 64x64 down to 8x8 (attention only in the two middle blocks, as DIAMOND's `UNet`).
    unet_channels: tuple[int, int, int, int] = (64, 64, 64, 64)
    unet_depths: tuple[int, int, int, int] = (2, 2, 2, 2)
    cond_channels: int = 256  # DIAMOND
    sigma_data: float = 0.5  # DIAMOND
    sigma_offset_noise: float = 0.3  # DIAMOND
    noise_loc: float = -0.4
    noise_scale: float = 1.2
    noise_sigma_min: float = 2e-3
    noise_sigma_max: float = 20.0


@dataclass
class SamplerConfig:
    """DIAMOND's Euler sampler as used in imagination."""

    num_steps: int = 3
    sigma_min: float = 2e-3
    sigma_max: float = 5.0
    rho: float = 7.0
    s_churn: float = 0.0  # only for stochastic environments
    # DIAMOND starts from unit-variance noise although its first step is at sigma_max; "sigma_max" scales
    # the initial sample by it, as the EDM paper does.
    initial_noise: Literal["unit", "sigma_max"] = "unit"


@dataclass
class RewardEndConfig:
    """Reward (sign classes) and termination from latents (or, in pixel space, frames) and actions, with an LSTM."""

    # The trunk's width and residual blocks: at the latent resolution, or in pixel space at each of the four levels
    # of DIAMOND's `RewEndEncoder` (`config/agent/default.yaml`, rew_end_model: channels [32] * 4, depths [2] * 4).
    channels: int = 32
    lstm_dim: int = 512  # DIAMOND
    cond_channels: int = 128  # DIAMOND: the action embedding that conditions the trunk's adaptive group norm
    num_blocks: int = 2
    # JEDI trains encoder and reward model end to end: the reward/termination loss reaches the encoder
    # (at the encoder's learning rate). False reads latents encoded under no_grad (a detached reward model).
    encoder_grad: bool = True
    # With encoder_grad, the world model's and the reward model's steps of an epoch are interleaved, so that the one
    # encoder is trained by both losses together (JEDI's end-to-end world model). False runs all world-model steps,
    # then all reward-model steps (DIAMOND's order, made for components that share no parameters).
    interleaved: bool = True
    # "trunk": the action conditions the convolutional trunk through adaptive group norm (DIAMOND's
    # RewEndEncoder); "lstm": the action's embedding joins the trunk's features at the LSTM's input.
    action_input: Literal["trunk", "lstm"] = "trunk"
    # Share of each training batch whose latents after the context are imagined by the world model
    # under the segment's real actions (labels stay the real rewards and ends). Not in the papers, which
    # train on real inputs only (0); a reduced budget's world model is too rough for that (see README).
    imagined_share: float = 0.0
    # What imagination hands the actor-critic for a transition's reward. DIAMOND samples a reward class
    # ("sample"); "mean" (ours) gives the class expectation P(+1) - P(-1) instead: the same signal without
    # the sampling noise, which the few updates of a reduced budget cannot average out (see README).
    imagined_reward: Literal["sample", "mean"] = "sample"


@dataclass
class ActorCriticConfig:
    """Policy and value on latents (or frames) with an LSTM; REINFORCE with a lambda-return baseline."""

    channels: int = 32
    # Pixel space: DIAMOND's `ActorCriticEncoder` (`config/agent/default.yaml` actor_critic.channels), one residual
    # block and a 2x2 max-pool per stage, 64x64 frames down to 4x4.
    frame_channels: tuple[int, int, int, int] = (32, 32, 64, 64)
    lstm_dim: int = 512  # DIAMOND
    horizon: int = 15
    gamma: float = 0.985
    lambda_: float = 0.95
    entropy_weight: float = 0.001
    value_loss_weight: float = 1.0
    # Not DIAMOND's: true lets the heads read the latent's features past the LSTM as well as its output.
    residual: bool = False


@dataclass
class TrainingConfig:
    """DIAMOND's schedule (JEDI keeps it): collection, gradient steps, optimisers, evaluation."""

    total_env_steps: int = 100_000
    initial_steps_min: int = 5_000
    initial_steps_max: int = 10_000
    initial_steps_chunk: int = 100
    initial_min_rewards: int = 10
    env_steps_per_epoch: int = 100
    final_epochs: int = 50
    epsilon: float = 0.01
    world_model_steps: int = 400
    reward_end_steps: int = 400
    actor_critic_steps: int = 400
    first_epoch_world_model_steps: int = 10_000
    first_epoch_reward_end_steps: int = 10_000
    first_epoch_actor_critic_steps: int = 5_000
    batch_size: int = 32  # world model and reward model
    actor_critic_batch_size: int = 32  # imagined rollouts per actor-critic step (DIAMOND sets it apart too)
    lr: float = 1e-4
    reward_end_lr_scale: float = 1.0  # reward/end lr = lr x this (DIAMOND: one lr for all components)
    actor_critic_lr_scale: float = 1.0  # actor-critic lr = lr x this
    adam_eps: float = 1e-8
    warmup_steps: int = 100
    world_model_weight_decay: float = 1e-2
    reward_end_weight_decay: float = 1e-2
    actor_critic_weight_decay: float = 0.0
    world_model_grad_clip: float = 1.0
    reward_end_grad_clip: float = 100.0
    actor_critic_grad_clip: float = 100.0
    replay_weights: tuple[float, float, float, float] = (0.1, 0.1, 0.1, 0.7)
    max_episode_steps: int = 27_000  # 108,000 frames at action repeat 4 (ALE enforces the same cap)
    eval_every_epochs: int = 10
    eval_episodes: int = 4
    final_eval_episodes: int = 100
    eval_envs: int = 8  # episodes played at once in evaluation
    compile: bool = False  # torch.compile the world model and actor-critic (CUDA)
    amp: bool = True  # bf16 autocast on CUDA; ignored on CPU
    cuda_graphs: bool = True  # imagination's gradient-free steps replay CUDA graphs (cuda_graph.py); ignored on CPU


@dataclass
class Config:
    world_model: WorldModelConfig = field(default_factory=WorldModelConfig)
    denoiser: DenoiserConfig = field(default_factory=DenoiserConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    reward_end: RewardEndConfig = field(default_factory=RewardEndConfig)
    actor_critic: ActorCriticConfig = field(default_factory=ActorCriticConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)

    @property
    def encoder_downsamples(self) -> int:
        return int(math.log2(FRAME_SIZE // self.world_model.latent_shape[1]))

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return dataclasses.asdict(self)

    def flat(self) -> dict[str, Any]:
        """Every field under its dotted key, e.g. `world_model.stop_gradient`."""
        return {f"{s}.{k}": v for s, section in self.to_dict().items() for k, v in section.items()}

    def hash(self) -> str:
        """A short, stable fingerprint of the resolved config (identifies a job for resume)."""
        text = json.dumps(self.flat(), sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


SPACE = "world_model.space"
_NO_ENCODER = "there is no encoder: the denoiser, the reward model and the actor-critic read frames"
_NO_LATENT = "there is no latent: DIAMOND clamps each predicted frame to [-1, 1] and quantises it to 8 bits"
_NO_SWITCH = "there is no switching: each later unrolled step conditions on the detached prediction, as DIAMOND's"
# The fields only one space reads, and why the other has no use for them. A budget's value for such a field is left
# out in the other space (the resolved config keeps the default); a variant or --set that changes one is refused.
SPACE_ONLY: dict[str, dict[str, str]] = {
    "latent": {
        "world_model.latent_shape": _NO_LATENT,
        "world_model.encoder_channels": _NO_ENCODER,
        "world_model.encoder_res_blocks": _NO_ENCODER,
        "world_model.stop_gradient": _NO_ENCODER,
        "world_model.switch_mode": _NO_SWITCH,
        "world_model.switch_prob": _NO_SWITCH,
        "world_model.feed_forward_grad": _NO_SWITCH,
        "world_model.clamp": _NO_LATENT,
        "world_model.clamp_scale": _NO_LATENT,
        "world_model.target_encoder": _NO_ENCODER,
        "world_model.ema_decay": _NO_ENCODER,
        "world_model.predictor": "the MSE predictor stands in for the latent denoiser only",
        "world_model.decoder": _NO_LATENT,
        "world_model.decoder_weight": _NO_LATENT,
        "world_model.encoder_lr_scale": _NO_ENCODER,
        "denoiser.channels": "the latent denoiser's width; the U-Net's is denoiser.unet_channels",
        "denoiser.num_blocks": "the latent denoiser's depth; the U-Net's is denoiser.unet_depths",
        "reward_end.encoder_grad": _NO_ENCODER,
        "reward_end.interleaved": _NO_ENCODER,
        "reward_end.action_input": "DIAMOND's RewEndEncoder conditions its trunk on the action",
        "actor_critic.channels": "the latent reader's width; the frame encoder's is actor_critic.frame_channels",
        "actor_critic.residual": "DIAMOND's frame features reach the heads through the LSTM only",
    },
    "pixel": {
        "denoiser.unet_channels": "the latent denoiser is no U-Net; its width is denoiser.channels",
        "denoiser.unet_depths": "the latent denoiser is no U-Net; its depth is denoiser.num_blocks",
        "actor_critic.frame_channels": "latents are read at actor_critic.channels, not through a frame encoder",
    },
}


def _field_types() -> dict[str, Any]:
    """Dotted key -> annotated type, read off the dataclasses."""
    types_: dict[str, Any] = {}
    for section in dataclasses.fields(Config):
        section_cls = typing.get_type_hints(Config)[section.name]
        for name, hint in typing.get_type_hints(section_cls).items():
            types_[f"{section.name}.{name}"] = hint
    return types_


FIELD_TYPES = _field_types()


def _coerce(key: str, hint: Any, value: Any) -> Any:
    """Turn a TOML or command-line value into the field's type, or say what is wrong."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        choices = list(typing.get_args(hint))
        if value not in choices:
            raise UsageError(f"{key}: '{value}' is not one of {', '.join(map(str, choices))}")
        return value
    if origin is tuple:
        items = value
        if isinstance(value, str):
            items = [v for v in value.replace("x", ",").strip("[]() ").split(",") if v.strip()]
        args = typing.get_args(hint)
        if not isinstance(items, list | tuple) or len(items) != len(args):
            raise UsageError(f"{key}: expected {len(args)} values like {_example(hint)}, got {value!r}")
        return tuple(_coerce(key, arg, item) for arg, item in zip(args, items, strict=True))
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        raise UsageError(f"{key}: expected true or false, got {value!r}")
    if hint in (int, float):
        if isinstance(value, bool):
            raise UsageError(f"{key}: expected a number, got {value!r}")
        try:
            number = hint(value) if not isinstance(value, str) else hint(float(value) if hint is float else value)
        except (TypeError, ValueError):
            raise UsageError(f"{key}: expected {'an integer' if hint is int else 'a number'}, got {value!r}") from None
        if hint is int and isinstance(value, float) and not value.is_integer():
            raise UsageError(f"{key}: expected an integer, got {value!r}")
        if hint is float and not math.isfinite(number):
            raise UsageError(f"{key}: expected a finite number, got {value!r}")
        return number
    raise TypeError(f"unsupported config type for {key}: {hint}")  # a bug in this module, not user input


def _example(hint: Any) -> str:
    args = typing.get_args(hint)
    if args == (int, int, int):
        return "16x8x8"
    return "64,64,64,64" if args == (int,) * 4 else "0.1,0.1,0.1,0.7"


def apply_overrides(config: Config, overrides: Mapping[str, Any]) -> Config:
    """A copy of `config` with dotted-key overrides applied and the result validated."""
    data = config.to_dict()
    for key, value in overrides.items():
        if key not in FIELD_TYPES:
            raise UsageError(
                f"unknown config key '{key}'{did_you_mean(key, list(FIELD_TYPES))}; "
                "see `ablate variants show jedi` for all keys"
            )
        section, name = key.split(".", 1)
        data[section][name] = _coerce(key, FIELD_TYPES[key], value)
    result = config_from_dict(data)
    validate(result)
    return result


def config_from_dict(data: Mapping[str, Mapping[str, Any]]) -> Config:
    """Rebuild a Config from `to_dict()` output (e.g. a saved config.json)."""
    sections = {}
    for section in dataclasses.fields(Config):
        cls = typing.get_type_hints(Config)[section.name]
        values = dict(data.get(section.name, {}))
        for name, hint in typing.get_type_hints(cls).items():
            if name in values and typing.get_origin(hint) is tuple:
                values[name] = tuple(values[name])
        sections[section.name] = cls(**values)
    return Config(**sections)


def validate(config: Config) -> None:
    """Refuse combinations that cannot run, before anything starts."""
    wm, tr, rc = config.world_model, config.training, config.reward_end
    c, h, w = wm.latent_shape
    if h != w or h < 2 or FRAME_SIZE % h or (FRAME_SIZE // h) & (FRAME_SIZE // h - 1):
        raise UsageError(
            f"world_model.latent_shape: {c}x{h}x{w} cannot be produced from 64x64 frames; "
            "H and W must be equal and 64 / H a power of two (e.g. 16x8x8, 8x4x4, 32x16x16)"
        )
    if c < 1:
        raise UsageError("world_model.latent_shape: the channel count must be at least 1")
    checks: list[tuple[bool, str]] = [
        (0.0 <= wm.switch_prob <= 1.0, "world_model.switch_prob must be within [0, 1]"),
        (0.0 <= config.reward_end.imagined_share <= 1.0, "reward_end.imagined_share must be within [0, 1]"),
        (wm.clamp_scale > 0, "world_model.clamp_scale must be positive"),
        (0.0 <= wm.ema_decay < 1.0, "world_model.ema_decay must be within [0, 1)"),
        (wm.unroll_steps >= 1, "world_model.unroll_steps must be at least 1"),
        (wm.num_conditioning >= 1, "world_model.num_conditioning must be at least 1"),
        (wm.encoder_lr_scale >= 0, "world_model.encoder_lr_scale must be non-negative"),
        (wm.decoder_weight >= 0, "world_model.decoder_weight must be non-negative"),
        (config.sampler.num_steps >= 1, "sampler.num_steps must be at least 1 denoising step"),
        (
            0 < config.sampler.sigma_min < config.sampler.sigma_max,
            "sampler.sigma_min must be positive and below sampler.sigma_max",
        ),
        (
            0 < config.denoiser.noise_sigma_min < config.denoiser.noise_sigma_max,
            "denoiser.noise_sigma_min must be positive and below denoiser.noise_sigma_max",
        ),
        (config.denoiser.sigma_data > 0, "denoiser.sigma_data must be positive"),
        (
            config.denoiser.cond_channels % (2 * wm.num_conditioning) == 0,
            "denoiser.cond_channels must be a multiple of 2 x world_model.num_conditioning "
            "(it holds one action embedding per conditioning frame and the noise level's cos and sin features)",
        ),
        (config.actor_critic.horizon >= 1, "actor_critic.horizon must be at least 1"),
        (0 <= config.actor_critic.gamma <= 1, "actor_critic.gamma must be within [0, 1]"),
        (0 <= config.actor_critic.lambda_ <= 1, "actor_critic.lambda_ must be within [0, 1]"),
        (0 <= tr.epsilon <= 1, "training.epsilon must be within [0, 1]"),
        (tr.batch_size >= 1, "training.batch_size must be at least 1"),
        (tr.actor_critic_batch_size >= 1, "training.actor_critic_batch_size must be at least 1"),
        (tr.lr > 0, "training.lr must be positive"),
        (tr.reward_end_lr_scale > 0, "training.reward_end_lr_scale must be positive"),
        (tr.actor_critic_lr_scale > 0, "training.actor_critic_lr_scale must be positive"),
        (tr.total_env_steps >= 1, "training.total_env_steps must be at least 1"),
        (tr.initial_steps_min <= tr.initial_steps_max, "training.initial_steps_min must not exceed _max"),
        (tr.initial_steps_min <= tr.total_env_steps, "training.initial_steps_min must not exceed total_env_steps"),
        (tr.env_steps_per_epoch >= 1, "training.env_steps_per_epoch must be at least 1"),
        (tr.initial_steps_chunk >= 1, "training.initial_steps_chunk must be at least 1"),
        (tr.eval_every_epochs >= 1, "training.eval_every_epochs must be at least 1"),
        (tr.eval_episodes >= 1, "training.eval_episodes must be at least 1"),
        (tr.initial_steps_min >= 1, "training.initial_steps_min must be at least 1"),
        (tr.final_eval_episodes >= 1, "training.final_eval_episodes must be at least 1"),
        (tr.eval_envs >= 1, "training.eval_envs must be at least 1"),
        (tr.max_episode_steps >= 1, "training.max_episode_steps must be at least 1"),
        (
            all(x >= 0 for x in tr.replay_weights) and sum(tr.replay_weights) > 0,
            "training.replay_weights must be non-negative with a positive sum",
        ),
    ]
    if wm.space == "pixel":  # DIAMOND's self-attention splits a width into max(1, width // 8) heads
        widths = {"denoiser.unet_channels": config.denoiser.unet_channels[-1], "reward_end.channels": rc.channels}
        checks += [
            (width % max(1, width // 8) == 0, f"{key}: {width} channels do not split into attention heads of 8")
            for key, width in widths.items()
        ]
    positive = [k for k, hint in FIELD_TYPES.items() if hint is int and k.endswith(("channels", "_dim", "blocks"))]
    checks += [(_get(config, k) >= 1, f"{k} must be at least 1") for k in positive]
    sizes = ["denoiser.unet_channels", "denoiser.unet_depths", "actor_critic.frame_channels"]
    checks += [(min(_get(config, k)) >= 1, f"{k} must hold numbers of at least 1") for k in sizes]
    counts = [k for k, hint in FIELD_TYPES.items() if hint is int and k.endswith(("_steps", "_epochs", "_rewards"))]
    checks += [(_get(config, k) >= 0, f"{k} must not be negative") for k in counts]
    for ok, message in checks:
        if not ok:
            raise UsageError(message)
    _refuse_other_space(config)


def _refuse_other_space(config: Config) -> None:
    """A field the config's space does not read must keep its default: set, it would be silently ignored."""
    space = config.world_model.space
    defaults = Config()
    for other, fields in SPACE_ONLY.items():
        if other == space:
            continue
        for key, why in fields.items():
            if _get(config, key) != _get(defaults, key):
                raise UsageError(f"{key} means nothing with {SPACE} = {space} ({why})")


def _get(config: Config, key: str) -> Any:
    section, name = key.split(".", 1)
    return getattr(getattr(config, section), name)


def parse_set_options(items: list[str] | None) -> dict[str, str]:
    """`--set key=value` options (repeatable) as an ordered mapping; values are coerced later."""
    overrides: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects key=value (e.g. world_model.clamp=false), got '{item}'")
        overrides[key.strip()] = value.strip()
    return overrides


def resolve_config(budget: str = "atari100k", overrides: Mapping[str, Any] | None = None) -> Config:
    """Defaults, then the budget's preset, then the caller's overrides (a variant's, then `--set`)."""
    if budget not in BUDGETS:
        raise UsageError(
            f"unknown budget '{budget}'{did_you_mean(budget, list(BUDGETS))}; choose one of {', '.join(BUDGETS)}"
        )
    overrides = overrides or {}
    space = _coerce(SPACE, FIELD_TYPES[SPACE], overrides.get(SPACE, WorldModelConfig.space))
    # The budget's settings of fields the other space alone reads are left out: here they would mean nothing.
    other = {key for name, fields in SPACE_ONLY.items() if name != space for key in fields}
    preset = {key: value for key, value in BUDGETS[budget].items() if key not in other}
    config = apply_overrides(Config(), {SPACE: space, **preset})
    return apply_overrides(config, overrides)


def budget_caveat(config: Config) -> str | None:
    """What makes a score of this config incomparable to the papers' (a shorter run, capped episodes), or None."""
    tr, protocol = config.training, TrainingConfig()
    cuts = []
    if tr.total_env_steps < protocol.total_env_steps:
        cuts.append(f"{tr.total_env_steps:,} environment steps instead of {protocol.total_env_steps:,}")
    if tr.max_episode_steps < protocol.max_episode_steps:
        cuts.append(f"episodes capped at {tr.max_episode_steps:,} steps")
    return f"not the papers' protocol: {' and '.join(cuts)}" if cuts else None


def diff(config: Config, base: Config) -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose values differ: key -> (base value, value)."""
    a, b = base.flat(), config.flat()
    return {k: (a[k], b[k]) for k in a if a[k] != b[k]}
