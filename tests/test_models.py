"""Shapes, value ranges and formulas of every JEDI component, and what each ablation switch changes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ablate.config import resolve_config
from ablate.errors import UsageError
from ablate.jedi.actor_critic import ActorCritic, Trajectory, actor_critic_loss, lambda_returns
from ablate.jedi.agent import Agent, parameter_counts
from ablate.jedi.denoiser import edm_preconditioners
from ablate.jedi.encoder import Decoder, Encoder, clamp
from ablate.jedi.imagination import Imagination
from ablate.jedi.replay import ReplayBuffer
from ablate.jedi.reward_end import RewardEndModel
from ablate.jedi.sampler import EulerSampler, karras_sigmas
from ablate.jedi.unet import SelfAttention2d
from ablate.jedi.world_model import WorldModel, latent_statistics

A = 3  # actions


def config(**overrides):
    return resolve_config("test", overrides)


def frames(b: int, t: int) -> torch.Tensor:
    return torch.rand(b, t, 3, 64, 64) * 2 - 1


@pytest.mark.parametrize("shape", [(16, 8, 8), (8, 4, 4), (32, 16, 16), (4, 8, 8)])
def test_encoder_produces_the_latent_shape_within_the_clamp(shape):
    cfg = config(**{"world_model.latent_shape": list(shape)})
    z = Encoder(cfg)(frames(2, 1)[:, 0] * 50)
    assert z.shape == (2, *shape)
    assert z.abs().max() < 3.0


def test_clamp_off_lets_latents_exceed_the_bound():
    cfg = config(**{"world_model.clamp": False})
    encoder = Encoder(cfg)
    with torch.no_grad():
        encoder.out[-1].bias.fill_(10.0)
    assert encoder(frames(2, 1)[:, 0]).abs().max() > 3.0
    clamped = Encoder(config())
    clamped.load_state_dict(encoder.state_dict())
    assert clamped(frames(2, 1)[:, 0]).abs().max() <= 3.0


def test_clamp_formula():
    z = torch.tensor([0.0, 1.0, 100.0, -100.0])
    expected = [0.0, 3 * math.tanh(1 / 3), 3.0, -3.0]
    assert clamp(z, 3.0).tolist() == pytest.approx(expected, abs=1e-6)


def test_decoder_reconstructs_frame_shape():
    cfg = config(**{"world_model.decoder": True})
    out = Decoder(cfg)(torch.randn(2, 16, 8, 8))
    assert out.shape == (2, 3, 64, 64) and out.abs().max() <= 1


def test_edm_preconditioners_match_hand_computed_values():
    # sigma = 0.5, sigma_data = 0.5: c_in = 1/sqrt(0.5), c_skip = 0.5, c_out = 0.5 sqrt(0.5), c_noise = ln(0.5)/4
    p = edm_preconditioners(torch.tensor([0.5, 2.0]), 0.5)
    assert p.c_in.flatten().tolist() == pytest.approx([1 / math.sqrt(0.5), 1 / math.sqrt(4.25)])
    assert p.c_skip.flatten().tolist() == pytest.approx([0.5, 0.25 / 4.25])
    assert p.c_out.flatten().tolist() == pytest.approx([0.5 * math.sqrt(0.5), 2.0 * math.sqrt(0.25 / 4.25)])
    assert p.c_noise.tolist() == pytest.approx([math.log(0.5) / 4, math.log(2.0) / 4])


def test_offset_noise_counts_in_the_effective_noise_level():
    # DIAMOND: s = sqrt(sigma^2 + offset^2); sigma = 0.4, offset = 0.3 -> s = 0.5
    p = edm_preconditioners(torch.tensor([0.4]), 0.5, 0.3)
    assert p.c_skip.item() == pytest.approx(0.5) and p.c_noise.item() == pytest.approx(math.log(0.5) / 4)


@pytest.mark.parametrize("predictor", ["diffusion", "mse"])
def test_conditioning_latents_enter_the_network_divided_by_sigma_data(predictor, monkeypatch):
    # DIAMOND: the inner model sees obs / sigma_data, at the scale of the preconditioned noisy input.
    cfg = config(**{"denoiser.sigma_data": 0.25, "world_model.predictor": predictor})
    wm = WorldModel(cfg, A)
    seen = []
    inner = wm.denoiser.inner.forward
    monkeypatch.setattr(wm.denoiser.inner, "forward", lambda x, c, lat, act: seen.append(lat) or inner(x, c, lat, act))
    cond = torch.randn(2, 4, 16, 8, 8)
    actions = torch.zeros(2, 4, dtype=torch.long)
    wm.denoiser.denoise(torch.randn(2, 16, 8, 8), torch.ones(2), cond, actions)
    wm.denoiser.loss(torch.randn(2, 16, 8, 8), cond, actions)
    assert len(seen) == 2 and all(torch.allclose(s, cond / 0.25) for s in seen)


def test_training_noise_is_log_normal_and_clipped():
    wm = WorldModel(config(), A)
    torch.manual_seed(0)
    sigma = wm.denoiser.sample_sigma(50_000, torch.device("cpu"))
    assert sigma.min() >= 2e-3 and sigma.max() <= 20
    assert sigma.log().median().item() == pytest.approx(-0.4, abs=0.03)


def test_karras_schedule_and_sampler_steps():
    cfg = config(**{"sampler.num_steps": 3}).sampler
    sigmas = karras_sigmas(cfg, torch.device("cpu"))
    assert sigmas.tolist()[0] == pytest.approx(5.0) and sigmas.tolist()[-2] == pytest.approx(2e-3)
    assert sigmas[-1] == 0 and len(sigmas) == 4
    mid = (5.0 ** (1 / 7) + 0.5 * (2e-3 ** (1 / 7) - 5.0 ** (1 / 7))) ** 7
    assert sigmas[1].item() == pytest.approx(mid, rel=1e-5)


@pytest.mark.parametrize("steps", [1, 3])
def test_sampler_calls_the_denoiser_once_per_step(steps):
    cfg = config(**{"sampler.num_steps": steps})
    wm = WorldModel(cfg, A)
    calls = []
    original = wm.denoiser.denoise

    def counting(*args):
        calls.append(args[1][0].item())
        return original(*args)

    wm.denoiser.denoise = counting
    z = EulerSampler(wm.denoiser, cfg.sampler).sample(torch.randn(2, 4, 16, 8, 8), torch.zeros(2, 4, dtype=torch.long))
    assert len(calls) == steps and calls[0] == pytest.approx(5.0)
    assert z.shape == (2, 16, 8, 8) and torch.isfinite(z).all()


def test_one_step_sampler_returns_the_denoised_estimate():
    cfg = config(**{"sampler.num_steps": 1})
    wm = WorldModel(cfg, A)
    cond, act = torch.randn(2, 4, 16, 8, 8), torch.zeros(2, 4, dtype=torch.long)
    torch.manual_seed(1)
    z = EulerSampler(wm.denoiser, cfg.sampler).sample(cond, act)
    torch.manual_seed(1)
    x = torch.randn(2, 16, 8, 8)  # DIAMOND: unit-variance initial noise
    assert torch.allclose(z, wm.denoiser.denoise(x, torch.full((2,), 5.0), cond, act), atol=1e-5)


def _first_denoiser_input(**overrides) -> tuple[torch.Tensor, list[float]]:
    cfg = config(**overrides)
    wm = WorldModel(cfg, A)
    inputs, sigmas = [], []
    original = wm.denoiser.denoise

    def recording(noisy, sigma, *rest):
        inputs.append(noisy.clone())
        sigmas.append(sigma[0].item())
        return original(noisy, sigma, *rest)

    wm.denoiser.denoise = recording
    EulerSampler(wm.denoiser, cfg.sampler).sample(torch.randn(256, 4, 16, 8, 8), torch.zeros(256, 4, dtype=torch.long))
    return inputs[0], sigmas


def test_sampler_starts_from_unit_variance_noise_as_diamonds():
    x, _ = _first_denoiser_input()
    assert x.std().item() == pytest.approx(1.0, abs=0.02)
    x, _ = _first_denoiser_input(**{"sampler.initial_noise": "sigma_max"})
    assert x.std().item() == pytest.approx(5.0, abs=0.1)


def test_churned_sampler_calls_the_denoiser_at_the_scheduled_sigma():
    _, plain = _first_denoiser_input(**{"sampler.num_steps": 3})
    _, churned = _first_denoiser_input(**{"sampler.num_steps": 3, "sampler.s_churn": 1.0})
    assert churned == pytest.approx(plain) and plain[0] == pytest.approx(5.0)


def _gradients_into_frames(stop_gradient: str) -> tuple[float, float]:
    """Gradient reaching the conditioning frame and the target frame through the encoder."""
    cfg = config(
        **{"world_model.stop_gradient": stop_gradient, "world_model.num_conditioning": 1, "world_model.unroll_steps": 1}
    )
    torch.manual_seed(0)
    wm = WorldModel(cfg, A)
    torch.nn.init.normal_(wm.denoiser.inner.conv_out.weight, std=0.1)  # zero-init would hide gradients
    x = frames(4, 2).requires_grad_(True)
    loss, _ = wm.loss(x, torch.zeros(4, 2, dtype=torch.long), torch.ones(4, 2, dtype=torch.bool))
    if loss.requires_grad:
        loss.backward()
    grad = x.grad if x.grad is not None else torch.zeros_like(x)
    return grad[:, 0].abs().sum().item(), grad[:, 1].abs().sum().item()


def test_stop_gradient_target_trains_the_encoder_through_conditioning_only():
    conditioning, target = _gradients_into_frames("target")
    assert conditioning > 0 and target == 0


def test_stop_gradient_none_lets_the_loss_reach_the_encoder_through_the_target():
    conditioning, target = _gradients_into_frames("none")
    assert conditioning > 0 and target > 0


def test_stop_gradient_both_gives_the_encoder_no_dynamics_gradient():
    conditioning, target = _gradients_into_frames("both")
    assert conditioning == 0 and target == 0
    cfg = config(**{"world_model.stop_gradient": "both"})
    wm = WorldModel(cfg, A)
    loss, _ = wm.loss(frames(2, 6), torch.zeros(2, 6, dtype=torch.long), torch.ones(2, 6, dtype=torch.bool))
    loss.backward()
    assert all(p.grad is None or not p.grad.any() for p in wm.encoder.parameters())


def _fed_forward(mode: str, prob: float, steps: int = 6) -> list[bool]:
    """For each training step: was the denoiser's prediction fed forward as the next conditioning latent?"""
    cfg = config(**{"world_model.switch_mode": mode, "world_model.switch_prob": prob, "world_model.unroll_steps": 2})
    wm = WorldModel(cfg, A)
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    original = wm.denoiser.loss

    def recording(target, latent_cond, action_cond):
        loss, prediction = original(target, latent_cond, action_cond)
        seen.append((latent_cond[:, -1].detach().clone(), prediction.detach().clone()))
        return loss, prediction

    wm.denoiser.loss = recording
    fed = []
    for _ in range(steps):
        seen.clear()
        wm.loss(frames(2, 6), torch.zeros(2, 6, dtype=torch.long), torch.ones(2, 6, dtype=torch.bool))
        wm.after_step()
        fed.append(torch.equal(seen[1][0], seen[0][1]))
    return fed


def test_switch_probability_zero_never_and_one_always_feeds_the_prediction():
    assert not any(_fed_forward("random", 0.0))
    assert all(_fed_forward("random", 1.0))


def test_random_switching_mixes_and_alternation_is_deterministic():
    torch.manual_seed(0)
    mixed = _fed_forward("random", 0.5, steps=40)
    assert 5 < sum(mixed) < 35
    assert _fed_forward("alternate", 0.5, steps=4) == [False, True, False, True]


def test_ema_target_encoder_follows_the_encoder_slowly():
    cfg = config(**{"world_model.target_encoder": "ema", "world_model.ema_decay": 0.9})
    wm = WorldModel(cfg, A)
    online, target = next(wm.encoder.parameters()), next(wm.target_encoder.parameters())
    with torch.no_grad():
        online.add_(1.0)
    before = target.clone()
    wm.after_step()
    assert torch.allclose(target, before + 0.1 * (online - before))
    assert not target.requires_grad


def test_mse_predictor_is_deterministic():
    cfg = config(**{"world_model.predictor": "mse"})
    wm = WorldModel(cfg, A)
    cond, act = torch.randn(2, 4, 16, 8, 8), torch.zeros(2, 4, dtype=torch.long)
    sampler = EulerSampler(wm.denoiser, cfg.sampler)
    assert torch.equal(sampler.sample(cond, act), sampler.sample(cond, act))


def test_decoder_reconstruction_reaches_the_encoder_even_with_both_stopped():
    cfg = config(**{"world_model.decoder": True, "world_model.stop_gradient": "both"})
    wm = WorldModel(cfg, A)
    loss, metrics = wm.loss(frames(2, 6), torch.zeros(2, 6, dtype=torch.long), torch.ones(2, 6, dtype=torch.bool))
    loss.backward()
    assert "world_model/reconstruction_loss" in metrics
    assert any(p.grad is not None and p.grad.any() for p in wm.encoder.parameters())


def test_latent_statistics_are_reported():
    wm = WorldModel(config(), A)
    _, metrics = wm.loss(frames(3, 6), torch.zeros(3, 6, dtype=torch.long), torch.ones(3, 6, dtype=torch.bool))
    for key in ("latent/std_mean", "latent/std_min", "latent/saturation"):
        assert key in metrics and 0 <= metrics[key] < 3


def test_latent_statistics_cover_the_real_frames_only():
    torch.manual_seed(0)
    z = torch.randn(3, 5, 2, 2, 2)
    z[0, :2] = 100.0  # padding frames: must not count
    z[2, 4, 0, 0, 0] = 2.995  # one entry near the clamp bound 3
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[0, :2] = False
    real = z[mask].flatten(1)
    stats = latent_statistics(z, mask, clamp_scale=3.0)
    assert stats["latent/std_mean"].item() == pytest.approx(real.std(0).mean().item(), rel=1e-5)
    assert stats["latent/std_min"].item() == pytest.approx(real.std(0).min().item(), rel=1e-5)
    assert stats["latent/abs_max"].item() == pytest.approx(real.abs().max().item())
    saturated = (real.abs() >= 0.99 * 3.0).float().mean().item()
    assert 0 < saturated < 0.1 and stats["latent/saturation"].item() == pytest.approx(saturated)


def test_reward_end_model_outputs_and_loss():
    cfg = config()
    model = RewardEndModel(cfg, A)
    z = torch.randn(2, 5, 16, 8, 8)
    rewards = torch.tensor([[0.0, 5.0, -2.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    loss, metrics = model.loss(
        z, torch.zeros(2, 4, dtype=torch.long), rewards, torch.zeros(2, 4), torch.ones(2, 4, dtype=torch.bool)
    )
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert metrics["replay/reward_rate"].item() == pytest.approx(3 / 8)
    reward, nonzero, end, _ = model.sample(z[:, 0], torch.zeros(2, dtype=torch.long), z[:, 1], None)
    assert set(reward.tolist()) <= {-1.0, 0.0, 1.0} and set(end.tolist()) <= {0.0, 1.0}
    assert torch.equal(nonzero, (reward != 0).float())


def test_imagined_reward_mean_is_the_expectation_of_the_reward_classes():
    torch.manual_seed(0)
    sampling = RewardEndModel(config(), A)
    model = RewardEndModel(config(**{"reward_end.imagined_reward": "mean"}), A)
    model.load_state_dict(sampling.state_dict())
    offsets = torch.tensor([0.5, -1.0, 2.0, 0.0, 0.0])  # classes -1, 0, +1 clearly apart
    model.head.register_forward_hook(lambda module, args, out: out + offsets)
    with torch.no_grad():
        z, actions = torch.randn(4, 2, 16, 8, 8), torch.arange(4) % A
        logits, _, _ = model(z[:, :1], actions[:, None], z[:, 1:])
        probs = logits[:, 0].softmax(-1)
        first, nonzero, _, _ = model.sample(z[:, 0], actions, z[:, 1], None)
        again, _, _, _ = model.sample(z[:, 0], actions, z[:, 1], None)
    assert first.tolist() == pytest.approx((probs[:, 2] - probs[:, 0]).tolist())
    assert nonzero.tolist() == pytest.approx((1 - probs[:, 1]).tolist())  # the reward rate stays a rate
    assert torch.equal(first, again)  # nothing is drawn
    assert not set(first.tolist()) <= {-1.0, 0.0, 1.0}


def test_lambda_returns_by_hand():
    rewards = torch.tensor([[1.0, 0.0, 5.0]])  # sign-clipped to 1, 0, 1
    ends = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.5, 0.2, 0.4, 9.0]])
    g, lam = 0.9, 0.5
    g2 = 1.0  # the end cuts the bootstrap
    g1 = 0 + g * ((1 - lam) * 0.4 + lam * g2)
    g0 = 1 + g * ((1 - lam) * 0.2 + lam * g1)
    assert lambda_returns(rewards, ends, values, g, lam)[0].tolist() == pytest.approx([g0, g1, g2])
    # An expected reward (imagined_reward = "mean") is already within [-1, 1] and stays as it is.
    expected = torch.tensor([[0.0, 0.0, -0.3]])
    assert lambda_returns(expected, ends, values, g, lam)[0, 2].item() == pytest.approx(-0.3)


def test_actor_critic_shapes_and_loss():
    cfg = config()
    ac = ActorCritic(cfg, A)
    logits, value, hidden = ac(torch.randn(2, 16, 8, 8), ac.initial_state(2, torch.device("cpu")))
    assert logits.shape == (2, A) and value.shape == (2,) and hidden[0].shape == (2, cfg.actor_critic.lstm_dim)
    action, _ = ac.act(torch.randn(5, 16, 8, 8), ac.initial_state(5, torch.device("cpu")), epsilon=1.0)
    assert action.shape == (5,) and ((action >= 0) & (action < A)).all()
    traj = Trajectory(
        log_probs=torch.randn(2, 4, requires_grad=True),
        entropies=torch.rand(2, 4),
        values=torch.randn(2, 5, requires_grad=True),
        rewards=torch.zeros(2, 4),
        ends=torch.zeros(2, 4),
        reward_rates=torch.zeros(2, 4),
    )
    loss, metrics = actor_critic_loss(traj, cfg.actor_critic)
    loss.backward()
    assert traj.log_probs.grad is not None and "actor_critic/entropy" in metrics


def test_fresh_policy_is_uniform_with_zero_values_and_lstms_start_as_diamonds():
    cfg = config()
    ac, reward_end = ActorCritic(cfg, A), RewardEndModel(cfg, A)
    logits, value, _ = ac(torch.randn(4, 16, 8, 8), ac.initial_state(4, torch.device("cpu")))
    assert (logits == 0).all() and (value == 0).all()
    for lstm, bias in ((ac.lstm, ac.lstm.bias_ih), (reward_end.lstm, reward_end.lstm.bias_ih_l0)):
        n = bias.shape[0] // 4
        assert (bias[n : 2 * n] == 1).all() and (bias[:n] == 0).all() and (bias[2 * n :] == 0).all()
        recurrent = next(p for name, p in lstm.named_parameters() if name.startswith("weight_hh"))
        gram = recurrent.T @ recurrent  # orthogonal init of a tall matrix: orthonormal columns
        assert torch.allclose(gram, torch.eye(gram.shape[0]), atol=1e-4)


def test_imagination_rollout_shapes_and_gradients_only_into_the_actor_critic():
    cfg = config(**{"actor_critic.horizon": 5})
    agent = Agent(cfg, A)
    imagination = Imagination(cfg, agent.world_model, agent.reward_end)
    with torch.no_grad():
        latents = agent.world_model.encode(frames(3, 4))
    traj = imagination.rollout(agent.actor_critic, latents, torch.zeros(3, 4, dtype=torch.long))
    assert traj.values.shape == (3, 6) and traj.rewards.shape == (3, 5) and traj.ends.shape == (3, 5)
    loss, _ = actor_critic_loss(traj, cfg.actor_critic)
    loss.backward()
    assert all(p.grad is None for p in agent.world_model.parameters())
    assert any(p.grad is not None for p in agent.actor_critic.parameters())


def test_follow_imagines_each_next_latent_from_the_last_ones_and_the_given_actions():
    cfg = config()
    agent = Agent(cfg, A)
    imagination = Imagination(cfg, agent.world_model, agent.reward_end)
    windows = []

    def next_latent(latent_cond, action_cond):  # a stand-in world model: the last latent plus one
        windows.append((latent_cond.clone(), action_cond.clone()))
        return latent_cond[:, -1] + 1

    imagination.next_latent = next_latent
    context = torch.zeros(2, 4, 16, 8, 8)
    actions = torch.arange(9).expand(2, 9)  # 4 context frames + 6 imagined ones need 9 actions
    imagined = imagination.follow(context, actions)
    assert imagined.shape == (2, 6, 16, 8, 8)
    assert [float(z[0, 0, 0]) for z in imagined[0]] == [1, 2, 3, 4, 5, 6]
    assert [w[1][0].tolist() for w in windows] == [list(range(t, t + 4)) for t in range(6)]
    assert float(windows[-1][0][0, 0, 0, 0, 0]) == 2  # the window slid onto imagined latents


def test_reward_model_trains_on_imagined_latents_for_its_share_of_the_batch(tmp_path):
    from ablate.jedi.trainer import Trainer

    cfg = config(**{"reward_end.imagined_share": 0.5, "training.batch_size": 4})
    trainer = Trainer(cfg, "catch", 0, tmp_path, torch.device("cpu"), None, False)
    trainer.collector.collect(trainer.agent, 40, 1.0, trainer.device)
    followed = []
    real_follow = trainer.imagination.follow
    trainer.imagination.follow = lambda z, a: followed.append(z.shape[0]) or real_follow(z, a)
    trainer.encode_replay()
    loss, _ = trainer.reward_end_step()
    assert followed == [2] and torch.isfinite(loss)


def test_encoded_replay_gives_each_sampled_frame_its_latent_and_padding_the_padding_frames(tmp_path):
    from ablate.jedi.trainer import Trainer

    trainer = Trainer(config(), "catch", 0, tmp_path, torch.device("cpu"), None, False)
    trainer.collector.collect(trainer.agent, 30, 1.0, trainer.device)
    trainer.encode_replay()
    seg = trainer.replay.sample(6, 5, 3, np.random.default_rng(1), trainer.device)
    assert (seg.index == -1).any() and not seg.mask[seg.index == -1].any()  # left padding was drawn
    with torch.no_grad():
        direct = trainer.agent.world_model.encode(seg.frames)
    assert torch.allclose(trainer.replay_latents[seg.index], direct, atol=1e-5)


def test_actor_critic_batch_is_its_own_setting_and_heads_see_the_latent_past_the_lstm(tmp_path):
    from ablate.jedi.trainer import Trainer

    cfg = config(**{"training.actor_critic_batch_size": 5, "actor_critic.horizon": 3})
    trainer = Trainer(cfg, "catch", 0, tmp_path, torch.device("cpu"), None, False)
    trainer.collector.collect(trainer.agent, 30, 1.0, trainer.device)
    trainer.encode_replay()
    rollouts = []
    real_rollout = trainer.imagination.rollout
    trainer.imagination.rollout = lambda ac, z, a: rollouts.append(z.shape[0]) or real_rollout(ac, z, a)
    trainer.actor_critic_step()
    assert rollouts == [5]
    z = torch.randn(2, 16, 8, 8)
    for residual in (True, False):
        ac = ActorCritic(config(**{"actor_critic.residual": residual}), A)
        torch.nn.init.normal_(ac.actor.weight)
        for name, p in ac.lstm.named_parameters():  # an LSTM that ignores its input: h is the same for all
            if name != "weight_hh":
                p.data.zero_()
        logits, _, _ = ac(z, ac.initial_state(2, torch.device("cpu")))
        assert torch.allclose(logits[0], logits[1]) != residual  # only the residual path tells them apart


def test_group_norms_have_diamonds_groups_of_32_channels():
    agent = Agent(resolve_config("atari100k"), A)
    norms = [m for m in agent.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert norms and all(m.num_groups == max(1, m.num_channels // 32) for m in norms)
    assert {m.num_groups for m in norms} >= {1, 5}  # 32-channel encoder stages, the 160-channel denoiser


def test_reward_model_trunk_is_conditioned_on_the_action_through_adaptive_group_norm():
    torch.manual_seed(0)
    z = torch.randn(2, 1, 16, 8, 8)
    for action_input in ("trunk", "lstm"):
        model = RewardEndModel(config(**{"reward_end.action_input": action_input}), A)
        for m in model.modules():  # zero-initialised layers would hide the action's effect
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.normal_(m.weight, std=0.1)
        lstm_inputs: list[torch.Tensor] = []
        model.lstm.register_forward_hook(lambda mod, args, out, seen=lstm_inputs: seen.append(args[0].detach()))
        for a in (0, 1):
            model(z, torch.full((2, 1), a), z)
        trunk = [x[..., : model.features.out_dim] for x in lstm_inputs]  # the trunk's part of the LSTM input
        assert (not torch.allclose(trunk[0], trunk[1])) == (action_input == "trunk")
    assert model.head[-1].bias is None  # DIAMOND's head ends without a bias


def test_default_model_size_is_close_to_the_published_13_5m():
    counts = parameter_counts(Agent(resolve_config("atari100k"), 18))
    assert 12.5e6 < counts["total"] < 14.5e6


def _buffer_with_episodes(tmp_path, lengths):
    buffer = ReplayBuffer(tmp_path, (0.1, 0.1, 0.1, 0.7))
    for k, n in enumerate(lengths):
        buffer.start_episode(np.full((64, 64, 3), k, np.uint8))
        for t in range(n):
            buffer.add_step(t % A, float(t == n - 1), t == n - 1, np.full((64, 64, 3), k, np.uint8))
        buffer.end_episode()
    return buffer


def test_replay_sampling_favours_the_latest_quarter(tmp_path):
    buffer = _buffer_with_episodes(tmp_path, [10] * 8)  # quarters: episodes {0,1}, {2,3}, {4,5}, {6,7}
    rng = np.random.default_rng(0)
    seg = buffer.sample(4000, 1, 0, rng, torch.device("cpu"))
    episode = ((seg.frames[:, 0, 0, 0, 0] + 1) * 127.5).round().long()
    quarter_share = torch.bincount(episode // 2, minlength=4).float() / 4000
    assert quarter_share.tolist() == pytest.approx([0.1, 0.1, 0.1, 0.7], abs=0.03)


def test_replay_groups_hold_n_over_4_episodes_and_the_newest_the_remainder(tmp_path):
    buffer = _buffer_with_episodes(tmp_path, [10] * 7)  # groups of 1, 1, 1 and 4 episodes (DIAMOND)
    p = buffer.episode_probabilities()
    assert p.tolist() == pytest.approx([0.1, 0.1, 0.1] + [0.175] * 4)
    seg = buffer.sample(8000, 1, 0, np.random.default_rng(0), torch.device("cpu"))
    newest = (seg.index[:, 0] >= buffer.starts[-1]).float().mean().item()
    assert newest == pytest.approx(0.175, abs=0.015)


def test_replay_with_fewer_episodes_than_weights_draws_them_by_length(tmp_path):
    buffer = _buffer_with_episodes(tmp_path, [40, 40, 10])
    assert buffer.episode_probabilities().tolist() == pytest.approx([40 / 90, 40 / 90, 10 / 90])


def test_replay_segments_pad_outside_the_episode(tmp_path):
    buffer = _buffer_with_episodes(tmp_path, [3])  # 4 frames, 3 transitions
    seg = buffer.sample(200, 6, 2, np.random.default_rng(0), torch.device("cpu"))
    assert seg.frames.shape == (200, 6, 3, 64, 64)
    assert (seg.mask.sum(1) == 4).all()  # every real frame of the short episode fits in the segment
    assert (seg.transition_mask.sum(1) == 3).all()
    assert (seg.frames[~seg.mask] == 0).all()  # DIAMOND's padding: mid-grey, 0 in [-1, 1]
    assert seg.rewards.sum().item() == 200 and seg.ends.sum().item() == 200


def test_imagination_contexts_never_end_on_an_episodes_final_frame(tmp_path):
    buffer = _buffer_with_episodes(tmp_path, [3, 8])
    seg = buffer.sample(500, 4, 3, np.random.default_rng(0), torch.device("cpu"), room_after=1)
    assert seg.transition_mask[:, -1].all()  # an action was taken at every context's last frame
    everywhere = buffer.sample(500, 4, 3, np.random.default_rng(0), torch.device("cpu"))
    assert not everywhere.transition_mask[:, -1].all()  # without the room, final frames do come up


def test_reward_model_segments_start_anywhere_around_a_transition_as_diamonds(tmp_path):
    buffer = _buffer_with_episodes(tmp_path, [8])  # 9 frames, 8 transitions, shorter than a segment
    length, rng = 14, np.random.default_rng(0)
    seg = buffer.sample(
        2000, length, 0, rng, torch.device("cpu"), start_before=rng.integers(0, length, 2000), with_frames=False
    )
    first_real = seg.mask.float().argmax(1)
    episode_frame_at_first_real = seg.index.gather(1, first_real[:, None]).squeeze(1)
    assert (seg.transition_mask.sum(1) >= 1).all()  # every segment holds its drawn transition
    assert (episode_frame_at_first_real > 0).any()  # some start inside the episode (no padding before)...
    assert (first_real > 0).any() and (~seg.mask[:, -1]).any()  # ...others are padded before, or after it
    context = buffer.sample(500, length, 0, rng, torch.device("cpu"), start_before=np.full(500, 3), with_frames=False)
    assert context.transition_mask[:, 3].all()  # a context of 4 ends on the drawn transition
    assert set(context.index[:, 3].tolist()) == set(range(8))


def test_replay_persists_episodes_and_reloads_only_those_checkpointed(tmp_path):
    buffer = _buffer_with_episodes(tmp_path, [3, 4, 5])
    reloaded = ReplayBuffer(tmp_path)
    reloaded.load(2)
    assert reloaded.num_steps == 7 and reloaded.completed == 2
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["episode_000000.npz", "episode_000001.npz"]
    assert np.array_equal(reloaded.frames[: reloaded.size], buffer.frames[: reloaded.size])


@pytest.mark.slow
def test_actor_critic_learns_an_imagined_contextual_bandit():
    """REINFORCE with the lambda-return baseline must learn which action pays where (sign errors fail here).

    The rewarded action depends on where a blob sits in the latent (left column: 0, right: 2), as in
    catch, so this also fails if the actor's features lose positions.
    """
    torch.manual_seed(0)
    cfg = config()
    ac = ActorCritic(cfg, A)
    optimiser = torch.optim.AdamW(ac.parameters(), lr=3e-3, weight_decay=0)
    z = 0.1 * torch.randn(16, 16, 8, 8)
    z[:8, :, :, 1] += 0.3  # blob on the left: action 0 pays
    z[8:, :, :, 6] += 0.3  # on the right: action 2 pays
    best = torch.tensor([0] * 8 + [2] * 8)
    horizon = 5
    for _ in range(300):
        hidden = ac.initial_state(16, torch.device("cpu"))
        log_probs, entropies, values, rewards = [], [], [], []
        for t in range(horizon):
            logits, value, hidden = ac(z, hidden)
            dist = torch.distributions.Categorical(logits=logits)
            action = dist.sample()
            log_probs.append(dist.log_prob(action))
            entropies.append(dist.entropy())
            values.append(value)
            rewards.append(((action == best).float() * 2 - 1) * float(t == horizon - 1))
        values.append(ac(z, hidden)[1])
        ends = torch.zeros(16, horizon)
        ends[:, -1] = 1
        traj = Trajectory(
            torch.stack(log_probs, 1),
            torch.stack(entropies, 1),
            torch.stack(values, 1),
            torch.stack(rewards, 1),
            ends,
            ends,
        )
        loss, _ = actor_critic_loss(traj, cfg.actor_critic)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    logits, _, _ = ac(z, ac.initial_state(16, torch.device("cpu")))
    assert logits.softmax(-1).gather(1, best[:, None]).mean() > 0.75  # uniform: 1/3


def _trainer_with_data(tmp_path, **overrides):
    from ablate.jedi.trainer import Trainer

    torch.manual_seed(0)
    trainer = Trainer(config(**overrides), "catch", 0, tmp_path, torch.device("cpu"), None, False)
    trainer.collector.collect(trainer.agent, 40, 1.0, trainer.device)
    trainer.encode_replay()
    return trainer


@pytest.mark.parametrize(
    ("overrides", "order"),
    [
        ({}, "WRWRWRWR"),  # JEDI's end to end: one encoder, both losses together
        ({"reward_end.interleaved": False}, "WWWWRRRR"),  # DIAMOND's order
        ({"reward_end.encoder_grad": False}, "WWWWRRRR"),  # a detached reward model: nothing shared
        ({"world_model.space": "pixel"}, "WWWWRRRR"),  # DIAMOND: no encoder
    ],
)
def test_world_and_reward_model_steps_interleave_where_they_share_the_encoder(tmp_path, overrides, order):
    trainer = _trainer_with_data(tmp_path, **overrides)
    trainer.epoch = 1  # the test budget's first epoch: 4 world-model and 4 reward-model steps
    steps: list[str] = []
    for name, letter in (("world_model_step", "W"), ("reward_end_step", "R")):
        real = getattr(trainer, name)
        setattr(trainer, name, lambda real=real, letter=letter: steps.append(letter) or real())
    metrics = trainer.train_epoch()
    assert "".join(steps) == order
    assert {"world_model/loss", "reward_end/loss", "actor_critic/loss"} <= set(metrics)


def _encoder_grad_norm(module: torch.nn.Module) -> float:
    return sum(p.grad.abs().sum().item() for p in module.parameters() if p.grad is not None)


@pytest.mark.parametrize("encoder_grad", [True, False])
def test_reward_loss_alone_reaches_the_encoder_end_to_end(tmp_path, encoder_grad):
    trainer = _trainer_with_data(tmp_path, **{"reward_end.encoder_grad": encoder_grad})
    loss, _ = trainer.reward_end_step()
    loss.backward()
    assert (_encoder_grad_norm(trainer.agent.world_model.encoder) > 0) == encoder_grad
    encoder_params = {id(p) for p in trainer.agent.world_model.encoder.parameters()}
    stepped = {id(p) for p in trainer.optimisers["reward_end"].params}
    assert (encoder_params <= stepped) == encoder_grad  # the reward model's step updates the encoder too


def test_separate_autoencoder_trains_the_encoder_by_reconstruction_only(tmp_path):
    from ablate.variants import load_variants, variant_overrides

    trainer = _trainer_with_data(tmp_path, **variant_overrides("separate-autoencoder", load_variants()))
    wm = trainer.agent.world_model
    torch.nn.init.normal_(wm.denoiser.inner.conv_out.weight, std=0.1)  # zero-init would hide gradients
    seg = trainer.replay.sample(4, 6, 3, trainer.rng, trainer.device)
    decoder, wm.decoder = wm.decoder, None  # the dynamics loss alone
    dynamics, _ = wm.loss(seg.frames, seg.actions, seg.mask)
    dynamics.backward()
    assert _encoder_grad_norm(wm.encoder) == 0  # does not reach it
    trainer.reward_end_step()[0].backward()
    assert _encoder_grad_norm(wm.encoder) == 0  # nor does the reward loss
    wm.decoder = decoder
    wm.loss(seg.frames, seg.actions, seg.mask)[0].backward()
    assert _encoder_grad_norm(wm.encoder) > 0  # reconstruction does


@pytest.mark.parametrize("feed_forward_grad", [True, False])
def test_a_switched_in_prediction_carries_its_gradient_forward_unless_detached(feed_forward_grad):
    cfg = config(
        **{
            "world_model.switch_prob": 1.0,
            "world_model.unroll_steps": 2,
            "world_model.num_conditioning": 1,
            "world_model.feed_forward_grad": feed_forward_grad,
        }
    )
    torch.manual_seed(0)
    wm = WorldModel(cfg, A)
    torch.nn.init.normal_(wm.denoiser.inner.conv_out.weight, std=0.1)  # zero-init would hide gradients
    steps = []
    original = wm.denoiser.loss
    wm.denoiser.loss = lambda *args: steps.append(original(*args)) or steps[-1]
    wm.loss(frames(2, 3), torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.bool))
    (_, first_prediction), (second_loss, _) = steps
    grad = torch.autograd.grad(second_loss.mean(), first_prediction, allow_unused=True)[0]
    assert (grad is not None and grad.abs().sum() > 0) == feed_forward_grad


def test_denoiser_embeds_each_conditioning_action_in_its_share_of_the_conditioning_vector():
    cfg = resolve_config("atari100k")
    inner = WorldModel(cfg, A).denoiser.inner
    assert inner.action_embedding.embedding_dim == 256 // 4  # DIAMOND: cond_channels / n, concatenated
    with pytest.raises(UsageError, match="cond_channels"):
        resolve_config("test", {"denoiser.cond_channels": 18})


# -- pixel space: DIAMOND's agent --------------------------------------------------------------------------------


def pixel_config(budget: str = "test", **overrides):
    """The shipped `pixel` variant (DIAMOND) at a budget."""
    from ablate.variants import load_variants, resolve_variant

    return resolve_variant("pixel", load_variants(), budget, overrides)


def test_pixel_agent_has_diamonds_parameters_component_by_component():
    """Counted from eloialonso/diamond's own modules at `config/agent/default.yaml`, for 3 and 18 actions."""
    with torch.device("meta"):
        counts = {actions: parameter_counts(Agent(pixel_config("atari100k"), actions)) for actions in (3, 18)}
    assert counts[3] == {"denoiser": 4_405_891, "reward_end": 5_900_736, "actor_critic": 3_229_124, "total": 13_535_751}
    assert counts[18]["total"] == 13_546_326  # DIAMOND's published 13.5M, whatever the game


def test_pixel_components_read_frames_through_diamonds_networks():
    cfg = pixel_config("atari100k")
    with torch.device("meta"):
        agent = Agent(cfg, A)
    unet = agent.world_model.denoiser.inner.unet
    assert (
        isinstance(agent.world_model.encoder, torch.nn.Identity) and len(agent.world_model.denoiser.inner.blocks) == 0
    )
    assert [len(level) for level in unet.down_blocks] == [2] * 4 and [len(level) for level in unet.up_blocks] == [3] * 4
    attention = [m for m in agent.world_model.denoiser.modules() if isinstance(m, SelfAttention2d)]
    assert len(attention) == 2 and attention[0].heads == 64 // 8  # DIAMOND's two middle blocks, nowhere else
    assert agent.world_model.denoiser.inner.conv_in.in_channels == (4 + 1) * 3  # last 4 frames and the noisy one
    assert agent.reward_end.features.out_dim == 32 * 8 * 8 and agent.reward_end.lstm.input_size == 2048
    assert agent.actor_critic.features.out_dim == 64 * 4 * 4 and agent.actor_critic.lstm.input_size == 1024
    pooled = [m for m in agent.actor_critic.features.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pooled) == 4  # DIAMOND's `down` [1, 1, 1, 1]


def test_pixel_denoiser_predicts_8_bit_frames_in_range_and_is_trained_on_frames():
    torch.manual_seed(0)
    cfg = pixel_config()
    wm = WorldModel(cfg, A)
    torch.nn.init.normal_(wm.denoiser.inner.conv_out.weight, std=1.0)  # a zero output would be trivially in range
    context, actions = frames(2, 4), torch.randint(0, A, (2, 4))
    frame = EulerSampler(wm.denoiser, cfg.sampler).sample(context, actions)
    assert frame.shape == (2, 3, 64, 64) and frame.abs().max() <= 1
    levels = (frame + 1) * 127.5  # DIAMOND's 256 levels of [-1, 1]
    assert torch.allclose(levels, levels.round(), atol=1e-4) and len(levels.unique()) > 2
    loss, metrics = wm.loss(frames(2, 5), torch.randint(0, A, (2, 5)), torch.ones(2, 5, dtype=torch.bool))
    assert torch.isfinite(loss) and not any(k.startswith("latent/") for k in metrics)  # frames, not latents
    assert torch.equal(wm.encode(context), context)  # a frame is its own latent


def test_pixel_unrolled_steps_condition_on_the_detached_prediction_as_diamonds():
    torch.manual_seed(0)
    wm = WorldModel(pixel_config(**{"world_model.unroll_steps": 2, "world_model.num_conditioning": 1}), A)
    windows = []
    original = wm.denoiser.loss
    wm.denoiser.loss = lambda *args: windows.append(args[1]) or original(*args)
    real = frames(2, 3)
    wm.loss(real, torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.bool))
    assert torch.equal(windows[0][:, 0], real[:, 0]) and not torch.equal(windows[1][:, 0], real[:, 1])
    assert not windows[1].requires_grad  # always the prediction (no switching), never with its gradient


def test_pixel_reward_model_and_actor_critic_on_frames():
    cfg = pixel_config()
    model, ac = RewardEndModel(cfg, A), ActorCritic(cfg, A)
    rewards = torch.tensor([[0.0, 1.0, -1.0], [0.0, 0.0, 0.0]])
    loss, _ = model.loss(
        frames(2, 4),
        torch.zeros(2, 3, dtype=torch.long),
        rewards,
        torch.zeros(2, 3),
        torch.ones(2, 3, dtype=torch.bool),
    )
    assert loss.ndim == 0 and torch.isfinite(loss)
    reward, _, end, _ = model.sample(frames(2, 1)[:, 0], torch.zeros(2, dtype=torch.long), frames(2, 1)[:, 0], None)
    assert reward.shape == end.shape == (2,)
    logits, value, _ = ac(frames(5, 1)[:, 0], ac.initial_state(5, torch.device("cpu")))
    assert logits.shape == (5, A) and value.shape == (5,)


def test_pixel_reward_model_trunk_is_conditioned_on_the_action():
    torch.manual_seed(0)
    model = RewardEndModel(pixel_config(), A)
    for m in model.modules():  # zero-initialised layers would hide the action's effect
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.normal_(m.weight, std=0.1)
    z = frames(2, 1)
    outputs = [model.features(torch.cat([z, z], 2)[:, 0], model.action_embedding(torch.full((2,), a))) for a in (0, 1)]
    assert not torch.allclose(outputs[0], outputs[1])


def test_pixel_imagination_rolls_out_frames_with_gradients_only_into_the_actor_critic(tmp_path):
    from ablate.jedi.trainer import Trainer

    cfg = pixel_config(**{"actor_critic.horizon": 3, "training.actor_critic_batch_size": 2})
    trainer = Trainer(cfg, "catch", 0, tmp_path, torch.device("cpu"), None, False)
    trainer.collector.collect(trainer.agent, 30, 1.0, trainer.device)
    trainer.encode_replay()
    assert trainer.replay_latents.numel() == 0  # nothing is encoded beforehand: batches carry their frames
    latents, actions = trainer.imagination_start()
    assert latents.shape == (2, 4, 3, 64, 64) and actions.shape == (2, 4)
    traj = trainer.imagination.rollout(trainer.agent.actor_critic, latents, actions)
    assert traj.values.shape == (2, 4) and traj.rewards.shape == (2, 3)
    actor_critic_loss(traj, cfg.actor_critic)[0].backward()
    assert all(p.grad is None for p in trainer.agent.world_model.parameters())
    assert all(p.grad is None for p in trainer.agent.reward_end.parameters())
    assert any(p.grad is not None for p in trainer.agent.actor_critic.parameters())
