"""Budgets: named presets of the schedule and sizes, applied over the config's defaults (the papers' protocol)
before a variant's overrides and `--set`. Each value says why in a few words; docs/budgets.md has the measurements.
"""

from __future__ import annotations

from typing import Any

BUDGETS: dict[str, dict[str, Any]] = {
    # The paper's protocol, unchanged.
    "atari100k": {},
    # Every code path at reduced sizes: one game and seed in minutes on 2 CPU cores. The measurements behind
    # each value are in docs/budgets.md.
    "smoke": {
        "world_model.encoder_channels": 8,  # the 64x64 encoder dominates a CPU step
        "world_model.encoder_res_blocks": 1,
        "denoiser.channels": 64,  # wider than the encoder costs little and predicts catch better
        "denoiser.num_blocks": 2,
        "denoiser.unet_channels": (16, 16, 16, 16),  # pixel space: the latent agent's size at this budget
        "denoiser.unet_depths": (1, 1, 1, 1),
        "denoiser.cond_channels": 64,
        # Method changes, each kept because no screen on this budget shows it unneeded:
        "denoiser.noise_loc": 1.0,  # DIAMOND -0.4: noisier targets force the small denoiser onto its conditioning
        "denoiser.sigma_data": 0.25,  # DIAMOND 0.5: the scale of this encoder's latents of catch
        "reward_end.channels": 16,
        "reward_end.lstm_dim": 64,
        "reward_end.imagined_share": 1.0,  # papers 0: trained on real latents it misreads imagined ones
        "reward_end.imagined_reward": "mean",  # DIAMOND "sample": the reading without the draw's noise
        "actor_critic.channels": 16,
        "actor_critic.frame_channels": (8, 8, 16, 16),
        "actor_critic.lstm_dim": 64,
        "actor_critic.horizon": 8,  # a whole catch episode
        "actor_critic.residual": True,  # DIAMOND false: REINFORCE learnt catch faster with it in few updates
        "training.total_env_steps": 1_000,
        "training.initial_steps_min": 500,
        "training.initial_steps_max": 1_000,
        "training.final_epochs": 3,
        # Front-loaded, as DIAMOND's schedule is: the policy settles in its first ~200 updates.
        "training.first_epoch_world_model_steps": 500,
        "training.first_epoch_reward_end_steps": 600,
        "training.first_epoch_actor_critic_steps": 250,
        "training.world_model_steps": 10,
        "training.reward_end_steps": 20,
        "training.actor_critic_steps": 30,
        "training.batch_size": 16,
        "training.actor_critic_batch_size": 32,  # REINFORCE needs the samples
        "training.lr": 1e-3,  # a few hundred steps must do what 1e-4 does in tens of thousands
        "world_model.encoder_lr_scale": 0.1,  # JEDI 0.3: slower, so that the latents keep their spread
        "training.max_episode_steps": 500,  # evaluation is bound by the emulator; catch never reaches it
        "training.eval_every_epochs": 5,
        "training.eval_episodes": 8,
        "training.final_eval_episodes": 32,
    },
    # Seconds: what the test suite uses.
    "test": {
        "world_model.encoder_channels": 8,
        "world_model.encoder_res_blocks": 1,
        "denoiser.channels": 16,
        "denoiser.num_blocks": 1,
        "denoiser.unet_channels": (8, 8, 8, 8),
        "denoiser.unet_depths": (1, 1, 1, 1),
        "denoiser.cond_channels": 16,
        "reward_end.channels": 8,
        "reward_end.lstm_dim": 16,
        "actor_critic.channels": 8,
        "actor_critic.frame_channels": (4, 4, 8, 8),
        "actor_critic.lstm_dim": 16,
        "actor_critic.horizon": 4,
        "training.total_env_steps": 120,
        "training.initial_steps_min": 60,
        "training.initial_steps_max": 80,
        "training.initial_steps_chunk": 20,
        "training.env_steps_per_epoch": 20,
        "training.final_epochs": 1,
        "training.world_model_steps": 2,
        "training.reward_end_steps": 2,
        "training.actor_critic_steps": 2,
        "training.first_epoch_world_model_steps": 4,
        "training.first_epoch_reward_end_steps": 4,
        "training.first_epoch_actor_critic_steps": 2,
        "training.batch_size": 4,
        "training.actor_critic_batch_size": 4,
        "training.eval_every_epochs": 2,
        "training.eval_episodes": 2,
        "training.final_eval_episodes": 3,
        "training.eval_envs": 3,
        "training.max_episode_steps": 50,
    },
}
