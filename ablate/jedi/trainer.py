"""The training loop of JEDI (and, in pixel space, DIAMOND's): collect -> train world model, reward model,
actor-critic -> evaluate -> checkpoint.

One run is one game and one seed. The schedule is DIAMOND's (JEDI.md section 4): a first
collection of 5k-10k steps, then 100 environment steps per epoch up to the budget, then final
epochs without collection; each epoch trains the three components for a fixed number of
gradient steps on batches from the replay buffer, the world model's and the reward model's interleaved
where both train the encoder (`reward_end.interleaved`). Every epoch ends with a report through
`callback`, which is how MLflow tracking and Optuna pruning plug in without touching this loop.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ablate.config import Config, config_from_dict
from ablate.envs import action_count, make_env
from ablate.errors import UsageError
from ablate.games import GAMES, hns
from ablate.jedi.actor_critic import actor_critic_loss
from ablate.jedi.agent import Agent
from ablate.jedi.collector import Collector, evaluate
from ablate.jedi.device import resolve_device
from ablate.jedi.imagination import Imagination
from ablate.jedi.optimiser import build_optimisers
from ablate.jedi.outputs import CHECKPOINT, CONFIG, METRICS, RESULT, EpochReport, RunResult, TrainingError
from ablate.jedi.replay import ReplayBuffer, Segment, padding_frame, to_network
from ablate.jedi.work import ENV_STEPS, EVAL_EPISODES, KINDS, Work, format_eta, scheduled

_WORK_REPORT_S = 0.5  # how often work done within an epoch is reported (progress bars, job processes)
_BAR_TOTAL = 1000
_PLAIN_PROGRESS_S = 30.0  # piped to a file, where no bar redraws, the bar's line is printed this often


def _schedule_steps(config: Config, epoch: int) -> dict[str, int]:
    tr = config.training
    if epoch == 1:
        return {
            "world_model": tr.first_epoch_world_model_steps,
            "reward_end": tr.first_epoch_reward_end_steps,
            "actor_critic": tr.first_epoch_actor_critic_steps,
        }
    return {
        "world_model": tr.world_model_steps,
        "reward_end": tr.reward_end_steps,
        "actor_critic": tr.actor_critic_steps,
    }


def total_epochs(config: Config, initial_steps: int) -> int:
    """DIAMOND's schedule: epochs 1..k each collect `env_steps_per_epoch` steps after the first collection
    (epoch 1 right after it), then the final epochs; at least one epoch trains."""
    tr = config.training
    collecting = math.ceil(max(0, tr.total_env_steps - initial_steps) / tr.env_steps_per_epoch)
    return max(1, collecting + tr.final_epochs)


@dataclass(frozen=True)
class Component:
    """A component's share of an epoch: its name (its optimiser's), gradient steps, one step, and what follows one."""

    name: str
    steps: int
    step_fn: Callable[[], tuple[torch.Tensor, dict]]
    after_step: Callable[[], None] | None = None


class Trainer:
    """Holds one run's state; `run()` is the loop, read top to bottom."""

    def __init__(
        self,
        config: Config,
        game: str,
        seed: int,
        out_dir: Path,
        device: torch.device,
        callback: Callable[[EpochReport], None] | None,
        progress: bool,
        on_work: Callable[[Work], None] | None = None,
    ) -> None:
        self.config, self.game, self.seed, self.out_dir = config, game, seed, out_dir
        self.device, self.callback, self.show_progress, self.on_work = device, callback, progress, on_work
        self.env = make_env(game, seed, train=True, max_episode_steps=config.training.max_episode_steps)
        self.num_actions = action_count(self.env)
        self.agent = Agent(config, self.num_actions)
        # channels_last: faster convolutions on CPU (oneDNN) and on CUDA with bf16 (cuDNN). Module.to takes
        # memory_format, as its documentation says, but torch's overloads of it leave the keyword out.
        self.agent.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.optimisers = build_optimisers(self.agent, config)
        self.imagination = Imagination(config, self.agent.world_model, self.agent.reward_end)
        self.replay = ReplayBuffer(out_dir / "replay", config.training.replay_weights)
        self.collector = Collector(self.env, self.replay)
        # In pixel space a frame is its own latent: batches carry their frames, and nothing is encoded beforehand.
        self.frames_are_latents = config.world_model.space == "pixel"
        self.replay_latents = torch.empty(0)  # see encode_replay()
        self.rng = np.random.default_rng(seed)
        self.epoch = 0
        self.resumed_from = 0
        self.total_epochs = 0
        self.wall_s = 0.0
        estimate = total_epochs(config, config.training.initial_steps_min)
        self.work = Work(scheduled(config, estimate, estimate, config.training.total_env_steps))
        self._tick_at = self._reported_at = time.perf_counter()
        self._show_work: Callable[[Work], None] | None = None  # the progress bar, while run() draws one
        self.use_amp = device.type == "cuda" and config.training.amp
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        if config.training.compile:
            self.agent.world_model.denoiser.inner.compile()
            self.agent.actor_critic.compile()

    # -- checkpointing -------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        state = {
            "agent": self.agent.state_dict(),
            "optimisers": {k: o.state_dict() for k, o in self.optimisers.items()},
            "epoch": self.epoch,
            "total_epochs": self.total_epochs,
            "wall_s": self.wall_s,
            "replay_episodes": self.replay.completed,
            "episodes_started": self.collector.episodes_started,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            "numpy_rng": self.rng.bit_generator.state,
        }
        tmp = self.out_dir / (CHECKPOINT + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.out_dir / CHECKPOINT)  # atomic: a kill mid-save leaves the previous checkpoint

    def load_checkpoint(self) -> None:
        path = self.out_dir / CHECKPOINT
        try:  # weights only: a crafted checkpoint cannot run code
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as err:
            raise UsageError(
                f"{path} cannot be loaded ({type(err).__name__}); remove {self.out_dir} to start the run over"
            ) from None
        self.agent.load_state_dict(state["agent"])
        for k, o in self.optimisers.items():
            o.load_state_dict(state["optimisers"][k])
        self.epoch, self.total_epochs, self.wall_s = state["epoch"], state["total_epochs"], state["wall_s"]
        self.resumed_from = self.epoch
        self._schedule_work(self.epoch)
        # The open episode at checkpoint time is dropped; collection restarts on a fresh episode.
        self.replay.load(state["replay_episodes"])
        self.collector.episodes_started = state["episodes_started"]
        # A fresh environment must not replay the run's first episodes: reseed it past those played.
        self.env.reset(seed=self.seed + state["episodes_started"])
        # map_location moved the generator states onto the device too; they are set from host tensors.
        torch.set_rng_state(state["torch_rng"].cpu())
        if self.device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), self.device)
        self.rng.bit_generator.state = state["numpy_rng"]

    # -- progress ------------------------------------------------------------------------------
    def _schedule_work(self, completed_epochs: int) -> None:
        """The work of the whole schedule, and what of it is done, once the first collection fixed its length."""
        env_steps = max(self.config.training.total_env_steps, self.replay.num_steps)
        self.work.total = scheduled(self.config, self.total_epochs, self.total_epochs, env_steps)
        self.work.done = scheduled(self.config, completed_epochs, self.total_epochs, self.replay.num_steps)
        episodes = max(1, self.collector.episodes_started)
        self.work.eval_episode_steps = self.replay.num_steps / episodes / self.config.training.eval_envs

    def _start_timing(self) -> None:
        self._tick_at = time.perf_counter()

    def _tick(self, kind: str) -> None:
        """One unit of `kind` done; at most every half second, the work so far goes to whoever follows it."""
        now = time.perf_counter()
        self.work.add(kind, 1, now - self._tick_at)
        self._tick_at = now
        if now - self._reported_at >= _WORK_REPORT_S:
            self._report_work()

    def _report_work(self) -> None:
        self._reported_at = time.perf_counter()
        for follower in (self.on_work, self._show_work):
            if follower is not None:
                follower(self.work)

    # -- one epoch's parts ---------------------------------------------------------------------
    def collect(self) -> None:
        tr, epsilon = self.config.training, self.config.training.epsilon
        self._start_timing()

        def step() -> None:
            self._tick(ENV_STEPS)

        if self.epoch == 1:
            # DIAMOND: at least `min` steps, then chunks until enough non-zero rewards or `max` steps.
            rewards = self.collector.collect(self.agent, tr.initial_steps_min, epsilon, self.device, step)
            while rewards < tr.initial_min_rewards and self.replay.num_steps < tr.initial_steps_max:
                chunk = min(tr.initial_steps_chunk, tr.initial_steps_max - self.replay.num_steps)
                rewards += self.collector.collect(self.agent, chunk, epsilon, self.device, step)
            self.total_epochs = total_epochs(self.config, self.replay.num_steps)
            self._schedule_work(completed_epochs=0)
        if self.replay.num_steps < tr.total_env_steps:  # every collecting epoch, the first one too (DIAMOND)
            steps = min(tr.env_steps_per_epoch, tr.total_env_steps - self.replay.num_steps)
            self.collector.collect(self.agent, steps, epsilon, self.device, step)

    def autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.use_amp else nullcontext()

    def train_component(
        self,
        name: str,
        steps: int,
        step_fn: Callable[[], tuple[torch.Tensor, dict]],
        after_step: Callable[[], None] | None = None,
    ) -> dict:
        """Run `steps` gradient steps of one component; metrics are summed on the device and read back once."""
        return self.train_components([Component(name, steps, step_fn, after_step)])

    def train_components(self, components: list[Component], rounds: int = 1) -> dict:
        """Gradient steps of several components in `rounds` rounds, each taking every component's share in turn
        (one round: each component's steps back to back). Metrics are summed on the device and read back once."""
        losses: dict[str, list[torch.Tensor]] = {c.name: [] for c in components if c.steps}
        sums: dict[str, dict[str, torch.Tensor]] = {name: {} for name in losses}
        self._start_timing()
        for r in range(rounds):
            for c in components:
                for _ in range(c.steps * (r + 1) // rounds - c.steps * r // rounds):
                    with self.autocast():
                        loss, metrics = c.step_fn()
                    metrics[f"{c.name}/grad_norm"] = self.optimisers[c.name].step(loss)
                    if c.after_step is not None:
                        c.after_step()
                    losses[c.name].append(loss.detach())
                    for k, v in metrics.items():
                        sums[c.name][k] = sums[c.name].get(k, 0) + v.float()
                    self._tick(c.name)  # on CUDA a step's time is its launch's; the read-back below settles the sum
        results: dict = {}
        for name, component_losses in losses.items():
            stacked = torch.stack(component_losses).float()
            finite = torch.isfinite(stacked)
            if not bool(finite.all()):
                step, steps = int((~finite).nonzero()[0, 0]), len(component_losses)
                where = (
                    f"the last good checkpoint is in {self.out_dir}"
                    if (self.out_dir / CHECKPOINT).exists()
                    else "no epoch had finished, so there is no checkpoint"
                )
                raise TrainingError(
                    f"non-finite {name} loss at epoch {self.epoch}, gradient step {step + 1} of {steps}; {where}"
                )
            n = len(component_losses)
            values = torch.stack([stacked.mean()] + [v / n for v in sums[name].values()]).tolist()
            results |= dict(zip([f"{name}/loss", *sums[name]], values, strict=True))
        if losses:
            self.work.seconds[next(reversed(losses))] += time.perf_counter() - self._tick_at
        return results

    def world_model_step(self) -> tuple[torch.Tensor, dict]:
        wm = self.config.world_model
        seg = self.replay.sample(
            self.config.training.batch_size,
            wm.num_conditioning + wm.unroll_steps,
            wm.num_conditioning - 1,
            self.rng,
            self.device,
        )
        assert seg.frames is not None  # sampled with its frames
        return self.agent.world_model.loss(seg.frames, seg.actions, seg.mask)

    @torch.no_grad()
    def encode_replay(self) -> None:
        """Encode every stored frame (and the padding frame, last) with the encoder as it now stands.

        The actor-critic trains last in an epoch, on a frozen encoder (and so does a detached reward model),
        so its batches index these latents instead of encoding frames at every step: the same inputs from
        one encoder pass per stored frame per epoch. In pixel space there is nothing to encode.
        """
        if self.frames_are_latents:
            return
        chunks = []
        frames = [to_network(torch.from_numpy(f).to(self.device)) for f in self.replay.frame_chunks(1024)]
        for batch in [*frames, padding_frame(self.device)]:
            with self.autocast():
                chunks.append(self.agent.world_model.encode(batch))
        self.replay_latents = torch.cat(chunks).float()

    def reward_end_step(self) -> tuple[torch.Tensor, dict]:
        # DIAMOND's reward-model segments: horizon + context frames around a uniformly drawn transition,
        # padded on either side, so that its LSTM sees sequences start anywhere in an episode, as the
        # contexts imagination warms it up on do. Imagined rows instead end their context on that transition.
        tr, n = self.config.training, self.config.world_model.num_conditioning
        end_to_end = self.config.reward_end.encoder_grad
        length = self.config.actor_critic.horizon + n
        imagined = round(self.config.reward_end.imagined_share * tr.batch_size)
        start_before = self.rng.integers(0, length, size=tr.batch_size)
        start_before[:imagined] = n - 1
        seg = self.replay.sample(
            tr.batch_size, length, 0, self.rng, self.device, with_frames=end_to_end, start_before=start_before
        )

        # End to end the reward loss reaches the encoder through the latents of real frames (imagined rows
        # encode only their context).
        rows = []
        if imagined:
            context = self.latents(seg, slice(None, imagined), slice(None, n))
            dreamt = self.imagination.follow(context.detach(), seg.actions[:imagined, :-1]).to(context.dtype)
            rows.append(torch.cat([context, dreamt], 1))
        if imagined < tr.batch_size:
            rows.append(self.latents(seg, slice(imagined, None), slice(None)))
        z = torch.cat(rows)
        return self.agent.reward_end.loss(
            z, seg.actions[:, :-1], seg.rewards[:, :-1], seg.ends[:, :-1], seg.transition_mask[:, :-1]
        )

    def latents(self, seg: Segment, rows: slice = slice(None), frames: slice = slice(None)) -> torch.Tensor:
        """The latents of a segment's frames (rows, frames): encoded when the segment holds its frames (end to end,
        and in pixel space, where they are the frames), else indexed in the encoded replay (index -1, padding,
        is the padding latent)."""
        if seg.frames is not None:
            return self.agent.world_model.encode(seg.frames[rows, frames])
        return self.replay_latents[seg.index[rows, frames]]

    def imagination_start(self) -> tuple[torch.Tensor, torch.Tensor]:
        """An actor-critic batch's real contexts: latents of `num_conditioning` frames (B, n, ...), actions (B, n).

        As in DIAMOND, imagination starts where an action was taken, never from an episode's final frame.
        """
        n, batch = self.config.world_model.num_conditioning, self.config.training.actor_critic_batch_size
        seg = self.replay.sample(
            batch, n, n - 1, self.rng, self.device, room_after=1, with_frames=self.frames_are_latents
        )
        return self.latents(seg), seg.actions

    def actor_critic_step(self) -> tuple[torch.Tensor, dict]:
        trajectory = self.imagination.rollout(self.agent.actor_critic, *self.imagination_start())
        return actor_critic_loss(trajectory, self.config.actor_critic)

    def train_epoch(self) -> dict[str, float]:
        steps = _schedule_steps(self.config, self.epoch)
        metrics: dict[str, float] = {}
        self.agent.train()
        world_model = Component(
            "world_model", steps["world_model"], self.world_model_step, self.agent.world_model.after_step
        )
        reward_end = Component("reward_end", steps["reward_end"], self.reward_end_step)
        end_to_end = self.config.reward_end.encoder_grad
        if not end_to_end:  # a detached reward model reads the latents the world model's steps left
            metrics |= self.train_components([world_model])
            self.encode_replay()
            metrics |= self.train_components([reward_end])
        else:  # one encoder, two losses: interleaved, it learns from both together (JEDI's end to end)
            interleaved = self.config.reward_end.interleaved and not self.frames_are_latents
            rounds = max(1, min(world_model.steps, reward_end.steps)) if interleaved else 1
            metrics |= self.train_components([world_model, reward_end], rounds)
            self.encode_replay()  # the reward model's steps moved the encoder: the actor-critic reads it as it now is
        metrics |= self.train_component("actor_critic", steps["actor_critic"], self.actor_critic_step)
        self.agent.eval()
        return metrics

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> RunResult:
        tr = self.config.training
        with _progress(self.show_progress) as bar:
            task = bar.add_task(f"{self.game} seed {self.seed}", total=_BAR_TOTAL, eta="-:--:--")
            last = ""  # the last finished epoch's losses
            printed_at = -_PLAIN_PROGRESS_S

            def show(work: Work) -> None:
                nonlocal printed_at
                epoch = f"epoch {self.epoch}/{self.total_epochs or '?'}"
                description = " ".join(part for part in (epoch, _doing(work), last) if part)
                eta = format_eta(work.eta_s())
                bar.update(task, completed=work.fraction() * _BAR_TOTAL, eta=eta, description=description)
                now = time.perf_counter()
                if self.show_progress and not bar.console.is_terminal and now - printed_at >= _PLAIN_PROGRESS_S:
                    printed_at = now
                    bar.console.print(
                        f"{self.game} seed {self.seed} {description} {work.fraction():.0%} ETA {eta}",
                        markup=False,
                        highlight=False,
                        soft_wrap=True,  # one line per report in a log, however long
                    )

            self._show_work = show
            while self.total_epochs == 0 or self.epoch < self.total_epochs:
                started = time.perf_counter()
                self.epoch += 1
                self.collect()
                metrics = self.train_epoch()
                finished = self.collector.finished_returns
                if finished:
                    metrics["train/episode_return"] = float(np.mean(finished))
                    finished.clear()
                if self.epoch % tr.eval_every_epochs == 0:
                    metrics["eval/return"] = float(np.mean(self._evaluate(tr.eval_episodes)))
                self.wall_s += time.perf_counter() - started
                self.save_checkpoint()
                report = EpochReport(self.epoch, self.replay.num_steps, metrics, self.total_epochs, self.resumed_from)
                with open(self.out_dir / METRICS, "a") as f:
                    f.write(json.dumps(asdict(report)) + "\n")
                last = _losses(report)
                printed_at = -_PLAIN_PROGRESS_S  # a finished epoch's line is printed whenever the last one was
                self._report_work()
                if self.callback is not None:
                    self.callback(report)
            started = time.perf_counter()
            returns = self._evaluate(tr.final_eval_episodes)
            self.wall_s += time.perf_counter() - started
            self._report_work()
        mean_return = float(np.mean(returns))
        return RunResult(
            game=self.game,
            seed=self.seed,
            env_steps=self.replay.num_steps,
            eval_returns=returns,
            mean_return=mean_return,
            hns=hns(self.game, mean_return) if GAMES[self.game].is_atari else None,
            wall_s=round(self.wall_s, 3),
            epochs=self.epoch,
            device=str(self.device),
        )

    def _evaluate(self, episodes: int) -> list[float]:
        self._start_timing()
        return evaluate(
            self.agent,
            self.game,
            self._eval_seed(),
            episodes,
            self.config,
            self.device,
            on_episode=lambda: self._tick(EVAL_EPISODES),
        )

    def _eval_seed(self) -> int:
        # Evaluation episodes are seeded apart from training collection, and differ from epoch to epoch.
        return 1_000_003 * (self.seed + 1) + self.epoch


def _losses(report: EpochReport) -> str:
    m = report.metrics
    parts = []
    for key, label in (
        ("world_model/loss", "wm"),
        ("reward_end/loss", "re"),
        ("actor_critic/loss", "ac"),
        ("eval/return", "eval"),
    ):
        if key in m:
            parts.append(f"{label} {m[key]:.3g}")
    return " ".join(parts)


def _doing(work: Work) -> str:
    """The kind of work under way, e.g. `world_model 120/500`."""
    for kind in KINDS:
        if 0 < work.done[kind] < work.total[kind]:
            return f"{kind} {work.done[kind]:,}/{work.total[kind]:,}"
    return ""


def _progress(enabled: bool):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("ETA {task.fields[eta]}"),
        disable=not enabled,
        transient=False,
    )


def _write_atomically(path: Path, text: str) -> None:
    """A kill or a full disk mid-write leaves the previous file (or none), never a truncated one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def train(
    config: Config,
    game: str,
    seed: int,
    out_dir: Path,
    *,
    device: str = "auto",
    resume: bool = False,
    callback: Callable[[EpochReport], None] | None = None,
    progress: bool = True,
    on_work: Callable[[Work], None] | None = None,
) -> RunResult:
    """Train JEDI on one game and seed; writes config.json, checkpoint.pt, metrics.jsonl and result.json to out_dir.

    With `resume`, continues from out_dir's checkpoint (the config must match the saved one); a run
    whose result.json exists is returned as is. Exceptions from `callback` propagate (cancellation).
    """
    out_dir = Path(out_dir)
    if game not in GAMES:
        raise UsageError(f"unknown game '{game}'")
    torch_device = resolve_device(device)
    has_checkpoint = (out_dir / CHECKPOINT).exists()
    if resume and (out_dir / RESULT).exists():
        return RunResult(**json.loads((out_dir / RESULT).read_text()))
    if resume and has_checkpoint:
        saved = config_from_dict(json.loads((out_dir / CONFIG).read_text()))
        if saved != config:
            raise UsageError(
                f"{out_dir} holds a run with another config; resume it with the same options or choose another --out"
            )
    elif has_checkpoint or (out_dir / RESULT).exists():
        raise UsageError(f"{out_dir} already holds a run; pass --resume to continue it or choose another --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_atomically(out_dir / CONFIG, json.dumps(config.to_dict(), indent=2))
    torch.manual_seed(seed)
    trainer = Trainer(config, game, seed, out_dir, torch_device, callback, progress, on_work)
    if resume and has_checkpoint:
        trainer.load_checkpoint()
        if progress:
            print(f"resumed {out_dir} from its checkpoint at epoch {trainer.epoch} of {trainer.total_epochs}")
    else:
        (out_dir / METRICS).unlink(missing_ok=True)
    try:
        result = trainer.run()
    finally:
        trainer.env.close()
    _write_atomically(out_dir / RESULT, json.dumps(result.to_dict(), indent=2))
    shutil.rmtree(out_dir / "replay", ignore_errors=True)  # a finished run never samples again; ~1 GB at atari100k
    return result
