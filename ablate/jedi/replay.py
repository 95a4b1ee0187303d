"""The replay buffer: uint8 episodes in one flat array, weighted segment sampling, persisted per episode.

Frame i of an episode carries the action taken at it and the reward / end of the transition it
starts; an episode of T transitions holds T + 1 frames (its last frame starts no transition).
Sampling follows DIAMOND (`data/batch_sampler.py`): episodes in chronological order are split into
four groups of `n // 4` episodes, the newest group taking the remainder; a group is drawn with
weights [0.1, 0.1, 0.1, 0.7] (recent data favoured), then an episode uniformly inside it (with fewer
episodes than weights, an episode in proportion to its length), then a segment start uniformly.
Parts of a segment outside the episode are padding, mid-grey frames (0 in [-1, 1], as DIAMOND pads),
flagged by the mask.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

FRAME_SHAPE = (64, 64, 3)


@dataclass
class Segment:
    frames: torch.Tensor | None  # (B, L, 3, 64, 64) float in [-1, 1]; None when not asked for
    index: torch.Tensor  # (B, L) long: each frame's place in the buffer, -1 for padding
    actions: torch.Tensor  # (B, L) long
    rewards: torch.Tensor  # (B, L) float, raw
    ends: torch.Tensor  # (B, L) float
    mask: torch.Tensor  # (B, L) bool: the frame is real
    transition_mask: torch.Tensor  # (B, L) bool: a real transition starts at the frame


def to_network(frames: torch.Tensor) -> torch.Tensor:
    """uint8 HWC frames -> float CHW in [-1, 1], on the frames' device."""
    return frames.permute(*range(frames.ndim - 3), -1, -3, -2).float().div(127.5).sub(1)


def padding_frame(device: torch.device) -> torch.Tensor:
    """The frame that stands before an episode's start or after its end: mid-grey, (1, 3, 64, 64) zeros."""
    return torch.zeros(1, FRAME_SHAPE[2], *FRAME_SHAPE[:2], device=device)


class ReplayBuffer:
    def __init__(self, directory: Path, weights: tuple[float, ...] = (0.1, 0.1, 0.1, 0.7)) -> None:
        self.directory = directory
        self.weights = np.asarray(weights, dtype=np.float64)
        self.frames = np.zeros((1024, *FRAME_SHAPE), dtype=np.uint8)
        self.actions = np.zeros(1024, dtype=np.int64)
        self.rewards = np.zeros(1024, dtype=np.float32)
        self.ends = np.zeros(1024, dtype=np.float32)
        self.size = 0
        self.starts: list[int] = []  # first frame of each episode; the last one may be in progress
        self.completed = 0

    @property
    def num_steps(self) -> int:
        """Transitions stored (frames minus one per episode)."""
        return self.size - len(self.starts)

    def _grow(self, needed: int) -> None:
        if needed <= len(self.frames):
            return
        capacity = max(needed, 2 * len(self.frames))
        for name in ("frames", "actions", "rewards", "ends"):
            old = getattr(self, name)
            new = np.zeros((capacity, *old.shape[1:]), dtype=old.dtype)
            new[: self.size] = old[: self.size]
            setattr(self, name, new)

    def start_episode(self, frame: np.ndarray) -> None:
        self._grow(self.size + 1)
        self.starts.append(self.size)
        self.frames[self.size] = frame
        self.size += 1

    def add_step(self, action: int, reward: float, end: bool, next_frame: np.ndarray) -> None:
        """Record the transition from the episode's last frame, then its next frame."""
        i = self.size - 1
        self.actions[i], self.rewards[i], self.ends[i] = action, reward, float(end)
        self._grow(self.size + 1)
        self.frames[self.size] = next_frame
        self.size += 1

    def end_episode(self) -> None:
        """Close the episode in progress and persist it (episodes on disk make resume cheap)."""
        start = self.starts[-1]
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"episode_{self.completed:06d}.npz"
        np.savez(
            path.with_suffix(".tmp.npz"),
            frames=self.frames[start : self.size],
            actions=self.actions[start : self.size],
            rewards=self.rewards[start : self.size],
            ends=self.ends[start : self.size],
        )
        path.with_suffix(".tmp.npz").replace(path)
        self.completed += 1

    def load(self, completed: int) -> None:
        """Reload the first `completed` episodes from disk; later ones (written after the checkpoint) are dropped."""
        for k in range(completed):
            with np.load(self.directory / f"episode_{k:06d}.npz") as ep:
                n = len(ep["frames"])
                self._grow(self.size + n)
                self.starts.append(self.size)
                for name in ("frames", "actions", "rewards", "ends"):
                    getattr(self, name)[self.size : self.size + n] = ep[name]
                self.size += n
        self.completed = completed
        for stale in self.directory.glob("episode_*.npz"):
            if int(stale.stem.split("_")[1].split(".")[0]) >= completed:
                stale.unlink()

    def frame_chunks(self, size: int) -> Iterator[np.ndarray]:
        """Every stored frame in order, `size` at a time."""
        for start in range(0, self.size, size):
            yield self.frames[start : min(start + size, self.size)]

    def episode_probabilities(self) -> np.ndarray:
        """P(episode) of DIAMOND's batch sampler, episodes in chronological order."""
        lengths = np.diff(np.array(self.starts + [self.size])) - 1  # transitions, as DIAMOND counts them
        k, n = len(self.weights), len(lengths)
        if n < k:
            total = lengths.sum()
            return lengths / total if total > 0 else np.full(n, 1 / n)
        sizes = [n // k] * k
        sizes[-1] += n % k
        p = np.repeat(self.weights / np.array(sizes), sizes)
        return p / p.sum()

    def sample(
        self,
        batch: int,
        length: int,
        left_pad: int,
        rng: np.random.Generator,
        device: torch.device,
        room_after: int = 0,
        with_frames: bool = True,
        start_before: np.ndarray | None = None,
    ) -> Segment:
        """`batch` segments of `length` frames; a segment may start up to `left_pad` frames before its episode.

        `room_after` frames of the episode must follow the segment: 1 makes its last frame one that an
        action was taken at (never an episode's final frame), which is where imagination starts.
        With `start_before` (one count per segment), segment i instead starts `start_before[i]` frames
        before a uniformly drawn transition of its episode and may run past the episode's end, padded on
        either side (DIAMOND's reward-model segments; `left_pad` and `room_after` then play no part).
        Without `with_frames` only the frames' buffer indices come back (for latents encoded beforehand).
        """
        episode_ids = rng.choice(len(self.starts), size=batch, p=self.episode_probabilities())
        bounds = np.array(self.starts + [self.size])
        first, lengths = bounds[episode_ids], bounds[episode_ids + 1] - bounds[episode_ids]
        if start_before is None:
            highest = np.maximum(lengths - length - room_after, -left_pad)
            starts = rng.integers(-left_pad, highest + 1)
        else:  # an episode in progress may hold no transition yet: its first frame stands in
            starts = rng.integers(0, np.maximum(lengths - 1, 1)) - start_before
        offsets = starts[:, None] + np.arange(length)
        real = (offsets >= 0) & (offsets < lengths[:, None])
        index = first[:, None] + np.clip(offsets, 0, lengths[:, None] - 1)
        transition = real & (offsets < lengths[:, None] - 1)

        def gather(array: np.ndarray, valid: np.ndarray) -> torch.Tensor:
            values = array[index]
            values[~valid] = 0
            return torch.from_numpy(values).to(device, non_blocking=True)

        mask = torch.from_numpy(real).to(device)
        frames = None
        if with_frames:  # padding is mid-grey, 0 once in [-1, 1]
            frames = to_network(torch.from_numpy(self.frames[index]).to(device)) * mask[..., None, None, None]
        return Segment(
            frames=frames,
            index=torch.from_numpy(np.where(real, index, -1)).to(device, non_blocking=True),
            actions=gather(self.actions, transition),
            rewards=gather(self.rewards, transition),
            ends=gather(self.ends, transition),
            mask=mask,
            transition_mask=torch.from_numpy(transition).to(device),
        )
