"""Catch: a tiny built-in game for sanity checks, learnable in minutes, rendered like an Atari frame."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

ROWS, COLS = 10, 5
FRAME_SIZE = 64
BACKGROUND = np.array((16, 16, 32), dtype=np.uint8)
BALL = np.array((255, 200, 40), dtype=np.uint8)
PADDLE = np.array((40, 160, 255), dtype=np.uint8)
# Pixel boundaries of the cells: 64 is no multiple of 10 or 5, so cells differ in size by at most one pixel.
_ROW_EDGES = np.linspace(0, FRAME_SIZE, ROWS + 1).round().astype(int)
_COL_EDGES = np.linspace(0, FRAME_SIZE, COLS + 1).round().astype(int)


LANDING_ROW = ROWS - 2  # the ball lands on the row just above the paddle's
EPISODE_STEPS = LANDING_ROW


class CatchEnv(gym.Env[np.ndarray, int | np.integer]):
    """A ball falls from a random column of the top row, one row per step; catch it with the paddle.

    Actions: 0 left, 1 stay, 2 right (clipped at the walls). When the ball reaches the row just above
    the paddle's (after EPISODE_STEPS = 8 steps) the episode terminates with reward +1 if the paddle is
    under it, else -1. Ball and paddle never overlap, so the last frame shows both: a world model
    predicts it from where each one goes, with no special picture for a catch to learn from the few
    catches a random policy makes. A uniformly random policy catches with probability exactly 1/COLS,
    so it scores -0.6 on average.
    """

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(0, 255, (FRAME_SIZE, FRAME_SIZE, 3), np.uint8)
        self.action_space = gym.spaces.Discrete(3)
        self._ball_row = self._ball_col = 0
        self._paddle_col = COLS // 2

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._ball_row = 0
        self._ball_col = int(self.np_random.integers(COLS))
        self._paddle_col = COLS // 2
        return self._render_frame(), {}

    def step(self, action: int | np.integer) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._ball_row == LANDING_ROW:
            raise RuntimeError("CatchEnv.step() after the episode ended: call reset() first")
        self._paddle_col = int(move_paddle(self._paddle_col, int(action)))
        self._ball_row += 1
        terminated = self._ball_row == LANDING_ROW
        reward = (1.0 if self._ball_col == self._paddle_col else -1.0) if terminated else 0.0
        return self._render_frame(), reward, terminated, False, {}

    def _render_frame(self) -> np.ndarray:
        return render(self._ball_row, self._ball_col, self._paddle_col)


def move_paddle(column: int | np.ndarray, action: int | np.ndarray) -> np.ndarray:
    """The paddle's column after an action (0 left, 1 stay, 2 right), clipped at the walls; ints or arrays."""
    return np.clip(column + action - 1, 0, COLS - 1)


def render(ball_row: int, ball_col: int, paddle_col: int) -> np.ndarray:
    """The 64x64 RGB frame of a catch state; the paddle sits on the bottom row."""
    frame = np.full((FRAME_SIZE, FRAME_SIZE, 3), BACKGROUND)
    _paint(frame, ROWS - 1, paddle_col, PADDLE)
    _paint(frame, ball_row, ball_col, BALL)
    return frame


def _paint(frame: np.ndarray, row: int, col: int, colour: np.ndarray) -> None:
    frame[_ROW_EDGES[row] : _ROW_EDGES[row + 1], _COL_EDGES[col] : _COL_EDGES[col + 1]] = colour
