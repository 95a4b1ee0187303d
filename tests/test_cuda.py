"""The trainer on CUDA: bf16 autocast, TF32, torch.compile, checkpoints that move between devices.

Skipped where no GPU is present (CI has none); on a GPU machine run `pytest tests/test_cuda.py`.
"""

from __future__ import annotations

import math

import pytest
import torch

from ablate.config import resolve_config
from ablate.jedi.agent import Agent
from ablate.jedi.cuda_graph import GraphedCall
from ablate.jedi.imagination import Imagination
from ablate.jedi.sampler import EulerSampler
from ablate.jedi.trainer import CHECKPOINT, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _interrupt_at(epoch: int):
    def callback(report):
        if report.epoch == epoch:
            raise KeyboardInterrupt

    return callback


def test_test_budget_trains_on_cuda(tmp_path):
    reports = []
    result = train(resolve_config("test"), "catch", 0, tmp_path, device="cuda", progress=False, callback=reports.append)
    assert result.device.startswith("cuda")
    assert set(result.eval_returns) <= {-1.0, 1.0}
    assert all(math.isfinite(v) for r in reports for v in r.metrics.values())


def test_compiled_trainer_runs_on_cuda(tmp_path):
    config = resolve_config("test", {"training.compile": True})
    result = train(config, "catch", 0, tmp_path, device="cuda", progress=False)
    assert set(result.eval_returns) <= {-1.0, 1.0}


@pytest.mark.parametrize("resume_on", ["cuda", "cpu"])
def test_a_cuda_run_resumes_on_either_device(tmp_path, resume_on):
    config = resolve_config("test")
    with pytest.raises(KeyboardInterrupt):
        train(config, "catch", 0, tmp_path, device="cuda", progress=False, callback=_interrupt_at(2))
    assert torch.load(tmp_path / CHECKPOINT, weights_only=False, map_location="cpu")["epoch"] == 2
    epochs = []
    result = train(
        config,
        "catch",
        0,
        tmp_path,
        device=resume_on,
        progress=False,
        resume=True,
        callback=lambda r: epochs.append(r.epoch),
    )
    assert epochs[0] == 3 and result.device.startswith(resume_on)


def test_float32_forward_passes_agree_between_cpu_and_cuda():
    config = resolve_config("smoke")
    torch.manual_seed(0)
    cpu = Agent(config, num_actions=3)
    gpu = Agent(config, num_actions=3).cuda()
    gpu.load_state_dict(cpu.state_dict())
    frames = torch.rand(8, 3, 64, 64) * 2 - 1
    cond = torch.randn(8, config.world_model.num_conditioning, *config.world_model.latent_shape) * 0.3
    actions = torch.randint(0, 3, (8, config.world_model.num_conditioning))
    noisy, sigma = torch.randn(8, *config.world_model.latent_shape), torch.rand(8) + 0.1
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # a training run turns it on
    try:
        with torch.no_grad():
            pairs = [
                (cpu.world_model.encode(frames), gpu.world_model.encode(frames.cuda())),
                (
                    cpu.world_model.denoiser.denoise(noisy, sigma, cond, actions),
                    gpu.world_model.denoiser.denoise(noisy.cuda(), sigma.cuda(), cond.cuda(), actions.cuda()),
                ),
            ]
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    for want, got in pairs:
        assert (got.cpu() - want).norm() / want.norm() < 1e-4


def test_bf16_autocast_stays_close_to_float32():
    config = resolve_config("smoke")
    torch.manual_seed(0)
    agent = Agent(config, num_actions=3).cuda()
    frames = torch.rand(16, 3, 64, 64, device="cuda") * 2 - 1
    with torch.no_grad():
        want = agent.world_model.encode(frames)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            got = agent.world_model.encode(frames).float()
    assert (got - want).norm() / want.norm() < 3e-2


def _agent_and_inputs(config, batch: int):
    torch.manual_seed(0)
    agent = Agent(config, num_actions=3).cuda()
    for p in agent.world_model.denoiser.parameters():  # zero-initialised output layers would hide mistakes
        p.data.normal_(0, 0.05)
    cond = torch.randn(batch, config.world_model.num_conditioning, *config.world_model.latent_shape, device="cuda")
    actions = torch.randint(0, 3, (batch, config.world_model.num_conditioning), device="cuda")
    return agent, cond, actions


def test_graphed_sampler_replays_the_eager_computation_and_sees_parameter_updates():
    config = resolve_config("smoke", {"world_model.predictor": "mse"})  # deterministic: outputs comparable
    agent, cond, actions = _agent_and_inputs(config, batch=8)
    eager = EulerSampler(agent.world_model.denoiser, config.sampler)
    graphed = GraphedCall(eager.sample, bf16=False)
    assert torch.allclose(graphed(cond, actions), eager.sample(cond, actions), atol=1e-5)
    with torch.no_grad():
        agent.world_model.denoiser.inner.conv_out.bias.add_(0.1)  # an optimiser step after the capture
    other = torch.randn_like(cond)
    assert torch.allclose(graphed(other, actions), eager.sample(other, actions), atol=1e-5)
    assert len(graphed.captures) == 1
    graphed(cond[:4], actions[:4])  # another batch size: a second capture
    assert len(graphed.captures) == 2


def test_graphed_world_step_matches_the_eager_one():
    # An MSE predictor, expected rewards and float32 throughout: everything but the end flag is deterministic.
    config = resolve_config("smoke", {"world_model.predictor": "mse", "training.amp": False})
    agent, cond, actions = _agent_and_inputs(config, batch=8)
    imagination = Imagination(config, agent.world_model, agent.reward_end)
    h = torch.randn(1, 8, config.reward_end.lstm_dim, device="cuda")
    c = torch.randn_like(h)
    args = (cond, actions, cond[:, -1], h, c)
    for graphed, eager in zip(imagination.world_step(*args), imagination._world_step(*args), strict=True):
        assert graphed.shape == eager.shape
    graphed, eager = imagination.world_step(*args), imagination._world_step(*args)
    for i in (0, 1, 2, 4, 5):  # the next latent, reward, its rate, the LSTM state (the end flag is drawn)
        assert torch.allclose(graphed[i], eager[i], atol=1e-5)


def test_graphed_diffusion_sampler_draws_fresh_noise_with_the_eager_distribution():
    config = resolve_config("smoke")
    agent, cond, actions = _agent_and_inputs(config, batch=512)
    eager = EulerSampler(agent.world_model.denoiser, config.sampler)
    graphed = GraphedCall(eager.sample, bf16=True)
    first, second = graphed(cond, actions), graphed(cond, actions)
    assert not torch.equal(first, second) and torch.isfinite(first).all()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        reference = eager.sample(cond, actions)
    assert abs(first.mean() - reference.mean()) < 0.05 * reference.std()
    assert abs(first.std() / reference.std() - 1) < 0.05
