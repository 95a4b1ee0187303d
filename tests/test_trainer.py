"""The training loop end to end on the `test` budget: results, resume, failures, reproducibility, the CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch

from ablate.cli.main import main
from ablate.config import resolve_config
from ablate.errors import UsageError
from ablate.jedi import trainer as trainer_module
from ablate.jedi.optimiser import build_optimisers
from ablate.jedi.trainer import CHECKPOINT, METRICS, RESULT, TrainingError, train
from ablate.jedi.work import Work
from ablate.jedi.world_model import WorldModel


def test_catch_runs_end_to_end(tmp_path):
    reports = []
    result = train(resolve_config("test"), "catch", 0, tmp_path, device="cpu", progress=False, callback=reports.append)
    saved = json.loads((tmp_path / RESULT).read_text())
    assert saved["game"] == "catch" and saved["hns"] is None and saved["seed"] == 0
    assert len(saved["eval_returns"]) == 3 and set(saved["eval_returns"]) <= {-1.0, 1.0}
    assert saved["mean_return"] == pytest.approx(sum(saved["eval_returns"]) / 3)
    assert saved["env_steps"] >= 120 and saved["wall_s"] > 0
    assert [r.epoch for r in reports] == list(range(1, reports[-1].total_epochs + 1))
    for key in (
        "world_model/loss",
        "world_model/grad_norm",
        "reward_end/loss",
        "actor_critic/loss",
        "actor_critic/entropy",
        "latent/std_min",
        "latent/saturation",
        "imagination/reward_rate",
        "replay/reward_rate",
    ):
        assert key in reports[0].metrics
    assert any("eval/return" in r.metrics for r in reports)
    assert (tmp_path / CHECKPOINT).exists() and (tmp_path / "config.json").exists()
    assert result.mean_return == saved["mean_return"]


@pytest.mark.slow
def test_atari_game_runs_end_to_end_with_hns(tmp_path):
    result = train(resolve_config("test"), "Pong", 1, tmp_path, device="cpu", progress=False)
    assert result.game == "Pong" and result.hns == pytest.approx((result.mean_return + 20.7) / (14.6 + 20.7))


@pytest.mark.slow
def test_same_seed_reproduces_the_run_on_cpu(tmp_path):
    a = train(resolve_config("test"), "catch", 3, tmp_path / "a", device="cpu", progress=False)
    b = train(resolve_config("test"), "catch", 3, tmp_path / "b", device="cpu", progress=False)
    assert a.eval_returns == b.eval_returns
    assert (tmp_path / "a" / METRICS).read_text() == (tmp_path / "b" / METRICS).read_text()


def test_interrupted_run_resumes_from_its_checkpoint(tmp_path):
    config = resolve_config("test")

    def interrupt(report):
        if report.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, "catch", 0, tmp_path, device="cpu", progress=False, callback=interrupt)
    assert not (tmp_path / RESULT).exists()
    assert torch.load(tmp_path / CHECKPOINT, weights_only=False)["epoch"] == 2
    with pytest.raises(UsageError, match="--resume"):
        train(config, "catch", 0, tmp_path, device="cpu", progress=False)
    reports = []
    result = train(config, "catch", 0, tmp_path, device="cpu", progress=False, resume=True, callback=reports.append)
    epochs = [r.epoch for r in reports]
    assert epochs[0] == 3 and result.epochs == epochs[-1]
    assert {r.resumed_from for r in reports} == {2}  # a resumed run says from which epoch
    lines = [json.loads(line)["epoch"] for line in (tmp_path / METRICS).read_text().splitlines()]
    assert lines == list(range(1, result.epochs + 1))
    assert train(config, "catch", 0, tmp_path, device="cpu", progress=False, resume=True) == result


def test_a_resumed_train_says_so_and_from_which_epoch(tmp_path, capsys):
    def interrupt(report):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(resolve_config("test"), "catch", 0, tmp_path, device="cpu", progress=False, callback=interrupt)
    capsys.readouterr()
    train(resolve_config("test"), "catch", 0, tmp_path, device="cpu", progress=True, resume=True)
    assert f"resumed {tmp_path} from its checkpoint at epoch 1 of 3" in capsys.readouterr().out


def test_progress_piped_to_a_file_prints_a_line_per_epoch(tmp_path, capsys):
    """No bar redraws in a log file: each finished epoch prints one line, with its losses and the ETA."""
    result = train(resolve_config("test"), "catch", 0, tmp_path, device="cpu", progress=True)
    lines = capsys.readouterr().out.splitlines()
    for epoch in range(1, result.epochs + 1):
        done = [line for line in lines if line.startswith(f"catch seed 0 epoch {epoch}/{result.epochs} ")]
        assert any(" wm " in line and " ac " in line for line in done), lines
    assert all("ETA" in line for line in lines if line.startswith("catch seed 0 epoch"))


def test_resume_refuses_another_config(tmp_path):
    def interrupt(report):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(resolve_config("test"), "catch", 0, tmp_path, device="cpu", progress=False, callback=interrupt)
    with pytest.raises(UsageError, match="another config"):
        train(
            resolve_config("test", {"world_model.clamp": False}),
            "catch",
            0,
            tmp_path,
            device="cpu",
            progress=False,
            resume=True,
        )


def test_non_finite_loss_stops_the_run_naming_component_and_step(tmp_path, monkeypatch):
    original = WorldModel.loss
    calls = {"n": 0}

    def poisoned(self, *args):
        loss, metrics = original(self, *args)
        calls["n"] += 1
        return (loss * float("nan") if calls["n"] > 5 else loss), metrics

    monkeypatch.setattr(WorldModel, "loss", poisoned)
    with pytest.raises(TrainingError, match=r"non-finite world_model loss at epoch 2, gradient step 2 of 2"):
        train(resolve_config("test"), "catch", 0, tmp_path, device="cpu", progress=False)
    checkpoint = torch.load(tmp_path / CHECKPOINT, weights_only=False)
    assert checkpoint["epoch"] == 1  # the last good one stays
    assert all(torch.isfinite(v).all() for v in checkpoint["agent"].values() if v.is_floating_point())


def test_bad_device_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="device"):
        train(resolve_config("test"), "catch", 0, tmp_path, device="tpu", progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="CUDA is not available"):
            train(resolve_config("test"), "catch", 0, tmp_path, device="cuda", progress=False)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"world_model.latent_shape": "16x6x6"}, "cannot be produced from 64x64"),
        ({"world_model.latent_shape": "16x8x4"}, "cannot be produced from 64x64"),
        ({"sampler.num_steps": 0}, "at least 1 denoising step"),
        ({"world_model.switch_prob": 1.5}, r"within \[0, 1\]"),
        ({"world_model.stop_gradient": "encoder"}, "not one of target, none, both"),
        ({"world_model.stop_gradiant": "both"}, "did you mean 'world_model.stop_gradient'"),
        ({"training.batch_size": "many"}, "expected an integer"),
        ({"world_model.clamp": "maybe"}, "expected true or false"),
        ({"training.lr": "nan"}, "finite"),
    ],
)
def test_invalid_configurations_are_refused(override, message):
    with pytest.raises(UsageError, match=message):
        resolve_config("test", override)


def test_overrides_are_coerced_from_strings():
    config = resolve_config(
        "smoke",
        {
            "world_model.latent_shape": "8x4x4",
            "world_model.clamp": "false",
            "sampler.num_steps": "5",
            "training.replay_weights": "0.25,0.25,0.25,0.25",
        },
    )
    assert config.world_model.latent_shape == (8, 4, 4) and config.encoder_downsamples == 4
    assert config.world_model.clamp is False and config.sampler.num_steps == 5
    assert config.training.replay_weights == (0.25, 0.25, 0.25, 0.25)


def test_unknown_budget_is_refused():
    with pytest.raises(UsageError, match="unknown budget 'smok'.*did you mean 'smoke'"):
        resolve_config("smok")


def test_cli_train_writes_the_result(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "--game",
            "CATCH",
            "--budget",
            "test",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--set",
            "world_model.stop_gradient=both",
        ]
    )
    assert code == 0
    assert json.loads((out / RESULT).read_text())["game"] == "catch"
    assert json.loads((out / "config.json").read_text())["world_model"]["stop_gradient"] == "both"


@pytest.mark.parametrize(
    "args",
    [
        ["--game", "pongg"],
        ["--game", "catch", "--set", "world_model.nope=1"],
        ["--game", "catch", "--set", "novalue"],
        ["--game", "catch", "--budget", "huge"],
    ],
)
def test_cli_train_bad_input_is_one_line_exit_2(tmp_path, capsys, args):
    assert main(["train", "--out", str(tmp_path / "x"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
    assert not (tmp_path / "x").exists()


def test_progress_description_names_losses():
    report = trainer_module.EpochReport(3, 300, {"world_model/loss": 0.5, "eval/return": 1.0}, 10)
    assert trainer_module._losses(report) == "wm 0.5 eval 1"


@pytest.mark.slow
def test_work_is_reported_within_the_first_epoch_with_an_eta_that_counts_down(tmp_path, monkeypatch):
    """The first epoch holds most gradient steps: progress must move inside it, and the ETA be a number early."""
    monkeypatch.setattr(trainer_module, "_WORK_REPORT_S", 0.0)
    config = resolve_config("test", {"training.first_epoch_world_model_steps": 40})
    seen: list[tuple[int, float, float | None, dict]] = []
    epochs: list[int] = []

    def on_work(work):
        seen.append((len(epochs), work.fraction(), work.eta_s(), dict(work.done)))

    train(
        config,
        "catch",
        0,
        tmp_path,
        device="cpu",
        progress=False,
        on_work=on_work,
        callback=lambda report: epochs.append(report.epoch),
    )
    first_epoch = [entry for entry in seen if entry[0] == 0]
    assert len({entry[3]["world_model"] for entry in first_epoch}) > 10  # many reports inside epoch 1
    fractions = [entry[1] for entry in seen]
    assert fractions[-1] == pytest.approx(1.0) and fractions[len(fractions) // 2] > 0.05
    etas = [entry[2] for entry in first_epoch if entry[3]["world_model"] >= 5]
    assert all(eta is not None for eta in etas)  # a number from the first gradient steps on
    assert seen[-1][2] == 0 and seen[-1][3][
        "eval_episodes"
    ] == config.training.final_eval_episodes + config.training.eval_episodes * (
        epochs[-1] // config.training.eval_every_epochs
    )


def test_the_eta_weighs_each_kind_of_work_by_its_own_cost():
    work = Work(total={"env_steps": 100, "world_model": 10, "reward_end": 10, "actor_critic": 0, "eval_episodes": 2})
    work.add("env_steps", 100, 1.0)  # 0.01 s a step
    work.add("world_model", 5, 5.0)  # 1 s a gradient step
    work.eval_episode_steps = 50
    # 5 world-model steps and 10 reward steps at 1 s (the one gradient cost measured), 2 episodes of 50 steps
    assert work.eta_s() == pytest.approx(5 + 10 + 2 * 50 * 0.01)
    assert work.fraction() == pytest.approx((1.0 + 5.0) / (1.0 + 5.0 + 16.0))


def test_learning_rates_per_component():
    """The encoder learns at encoder_lr_scale x lr (JEDI); reward/end and actor-critic have their own scales."""
    config = resolve_config(
        "test", {"training.lr": 2e-4, "training.reward_end_lr_scale": 2.0, "training.actor_critic_lr_scale": 3.0}
    )
    agent = trainer_module.Agent(config, 3)
    optimisers = build_optimisers(agent, config)
    encoder = {id(p) for p in agent.world_model.encoder.parameters()}

    def lrs(name: str) -> set[tuple[bool, float]]:
        groups = optimisers[name].opt.param_groups
        return {(id(g["params"][0]) in encoder, round(g["initial_lr"], 10)) for g in groups}

    assert lrs("world_model") == {(False, 2e-4), (True, round(2e-4 * 0.3, 10))}
    assert lrs("reward_end") == {(False, 4e-4), (True, round(2e-4 * 0.3, 10))}  # end to end: the encoder too
    assert optimisers["actor_critic"].opt.param_groups[0]["initial_lr"] == pytest.approx(6e-4)


@pytest.mark.slow
def test_stop_gradient_both_still_trains_the_encoder_through_the_reward_loss(tmp_path):
    torch.manual_seed(0)
    before = WorldModel(resolve_config("test"), 3).encoder.state_dict()
    for encoder_grad in (True, False):
        cfg = resolve_config("test", {"world_model.stop_gradient": "both", "reward_end.encoder_grad": encoder_grad})
        out = tmp_path / str(encoder_grad)
        train(cfg, "catch", 0, out, device="cpu", progress=False)
        after = torch.load(out / CHECKPOINT, weights_only=False)["agent"]
        moved = any(not torch.equal(v, after[f"world_model.encoder.{k}"]) for k, v in before.items())
        assert moved == encoder_grad  # with both stops and no reward gradient it stays the random encoder


def test_optimisers_follow_diamonds_weight_decay_and_warm_up_from_zero():
    config = resolve_config("test")
    agent = trainer_module.Agent(config, 3)
    optimisers = build_optimisers(agent, config)
    not_decayed_modules = torch.nn.LayerNorm | torch.nn.GroupNorm | torch.nn.Embedding
    never_decayed = {
        id(p)
        for m in agent.modules()
        for n, p in m.named_parameters(recurse=False)
        if n.endswith("bias") or isinstance(m, not_decayed_modules)
    }
    decays: dict[int, float] = {}  # the largest decay a parameter gets from any optimiser
    for optimiser in optimisers.values():
        for group in optimiser.opt.param_groups:
            for p in group["params"]:
                decays[id(p)] = max(decays.get(id(p), 0.0), group["weight_decay"])
    assert len(never_decayed) > 40 and all(decays[i] == 0 for i in never_decayed)
    conv_weight = agent.world_model.denoiser.inner.conv_in.weight
    assert decays[id(conv_weight)] == config.training.world_model_weight_decay
    assert decays[id(agent.reward_end.lstm.weight_hh_l0)] == config.training.reward_end_weight_decay
    schedule = optimisers["world_model"]
    assert schedule.opt.param_groups[0]["lr"] == 0  # DIAMOND's linear warm-up starts at 0
    schedule.opt.step()  # no gradients: no update, but the schedule's order is kept
    schedule.schedule.step()
    assert schedule.opt.param_groups[0]["lr"] == pytest.approx(config.training.lr / config.training.warmup_steps)


def test_atari100k_has_diamonds_1000_epochs():
    from ablate.jedi.trainer import total_epochs

    assert total_epochs(resolve_config("atari100k"), 5_000) == 1_000
    assert total_epochs(resolve_config("atari100k"), 10_000) == 950


class _Payload:
    """Unpickling it creates `marker`: what a crafted checkpoint could do if loaded with weights_only=False."""

    marker = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_crafted_or_damaged_checkpoint_is_refused_without_running_code(tmp_path):
    def interrupt(report):
        raise KeyboardInterrupt

    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(resolve_config("test"), "catch", 0, run, device="cpu", progress=False, callback=interrupt)
    _Payload.marker = str(tmp_path / "code-ran")
    torch.save({"agent": _Payload()}, run / CHECKPOINT)
    with pytest.raises(UsageError, match="cannot be loaded"):
        train(resolve_config("test"), "catch", 0, run, device="cpu", progress=False, resume=True)
    assert not (tmp_path / "code-ran").exists()
    (run / CHECKPOINT).write_bytes(b"truncated")
    with pytest.raises(UsageError, match=f"remove {run}"):
        train(resolve_config("test"), "catch", 0, run, device="cpu", progress=False, resume=True)


def test_a_non_finite_loss_before_any_checkpoint_says_there_is_none_and_is_one_line_in_the_cli(
    tmp_path, monkeypatch, capsys
):
    original = WorldModel.loss

    def poisoned(self, *args):
        loss, metrics = original(self, *args)
        return loss * float("nan"), metrics

    monkeypatch.setattr(WorldModel, "loss", poisoned)
    from ablate.cli.main import main

    code = main(["train", "--game", "catch", "--budget", "test", "--device", "cpu", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "non-finite world_model loss at epoch 1" in err and "no epoch had finished, so there is no checkpoint" in err


# -- pixel space: DIAMOND, trained by the same loop -----------------------------------------------------------------


def _pixel(budget: str = "test", overrides: dict | None = None):
    from ablate.variants import load_variants, resolve_variant

    return resolve_variant("pixel", load_variants(), budget, overrides)


@pytest.mark.slow
@pytest.mark.parametrize(("game", "seed"), [("catch", 0), ("Pong", 1)])
def test_pixel_variant_trains_end_to_end_through_the_same_loop(tmp_path, game, seed):
    reports = []
    result = train(_pixel(), game, seed, tmp_path, device="cpu", progress=False, callback=reports.append)
    assert [r.epoch for r in reports] == list(range(1, reports[-1].total_epochs + 1))
    for key in ("world_model/loss", "reward_end/loss", "actor_critic/loss", "imagination/reward_rate"):
        assert key in reports[0].metrics and math.isfinite(reports[0].metrics[key])
    assert not any(key.startswith("latent/") for key in reports[0].metrics)
    assert json.loads((tmp_path / "config.json").read_text())["world_model"]["space"] == "pixel"
    assert len(result.eval_returns) == 3 and (result.hns is None) == (game == "catch")
    agent = torch.load(tmp_path / CHECKPOINT, weights_only=True)["agent"]
    assert not any(key.startswith("world_model.encoder.") for key in agent)  # no JEDI encoder
    assert any(key.startswith("world_model.denoiser.inner.unet.") for key in agent)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("world_model.latent_shape", "8x4x4"),
        ("world_model.clamp", False),
        ("world_model.stop_gradient", "both"),
        ("world_model.switch_prob", 1.0),
        ("world_model.switch_mode", "alternate"),
        ("world_model.feed_forward_grad", False),
        ("world_model.target_encoder", "ema"),
        ("world_model.predictor", "mse"),
        ("world_model.decoder", True),
        ("world_model.encoder_lr_scale", 0.1),
        ("denoiser.channels", 32),
        ("reward_end.encoder_grad", False),
        ("reward_end.action_input", "lstm"),
        ("actor_critic.residual", True),
    ],
)
def test_a_latent_only_switch_set_with_pixel_space_is_refused_in_one_line(key, value):
    with pytest.raises(UsageError) as err:
        _pixel("smoke", {key: value})
    message = str(err.value)
    assert message.startswith(f"{key} means nothing with world_model.space = pixel (") and "\n" not in message


def test_pixel_only_sizes_are_refused_in_latent_space_and_budgets_apply_each_space_its_own():
    with pytest.raises(UsageError, match=r"^denoiser\.unet_channels means nothing with world_model\.space = latent"):
        resolve_config("test", {"denoiser.unet_channels": "8,8,8,8"})
    pixel, jedi = _pixel("smoke"), resolve_config("smoke")
    assert pixel.denoiser.unet_channels == (16, 16, 16, 16) and jedi.denoiser.unet_channels == (64, 64, 64, 64)
    assert pixel.world_model.encoder_channels == 32 and jedi.world_model.encoder_channels == 8  # left out in pixel
    assert pixel.actor_critic.residual is False and pixel.training == jedi.training


def test_cli_refuses_a_latent_only_switch_with_pixel_space_before_anything_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    args = ["train", "--game", "catch", "--budget", "test", "--out", str(out)]
    assert main([*args, "--set", "world_model.space=pixel", "--set", "world_model.clamp=false"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: world_model.clamp means nothing with world_model.space = pixel") and "\n" not in err
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    run = ["run", "pixel", "jedi", "--games", "catch", "--budget", "test", "--tracking-uri", uri, "--out", str(out)]
    assert main([*run, "--set", "world_model.switch_prob=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: variant 'pixel' with budget 'test' and --set: world_model.switch_prob means nothing")
    assert "\n" not in err and not out.exists() and not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
def test_ablate_run_tracks_the_pixel_variant_like_any_other(tmp_path, capsys, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    games = ["--games", "catch,RoadRunner", "--budget", "test", "--device", "cpu"]
    assert main(["run", "pixel", *games, "--tracking-uri", uri, "--out", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "pixel: FINISHED" in out and "RoadRunner" in out and "Mean HNS" in out
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("ablate").experiment_id
    (parent,) = client.search_runs([experiment], "tags.`ablate.kind` = 'variant'")
    assert parent.info.run_name == "pixel (test)" and parent.data.tags["ablate.variant"] == "pixel"
    children = client.search_runs([experiment], "tags.`ablate.kind` = 'job'")
    assert sorted(run.info.run_name for run in children) == ["pixel/RoadRunner/seed0", "pixel/catch/seed0"]
    config = _pixel()
    for child in children:
        assert child.info.status == "FINISHED" and child.data.params["world_model.space"] == "pixel"
        assert child.data.params == {key: str(value) for key, value in config.flat().items()}
        assert {"final/mean_return", "world_model/loss", "actor_critic/loss"} <= set(child.data.metrics)
