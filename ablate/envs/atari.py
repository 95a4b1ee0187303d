"""Atari100k environments, preprocessed as JEDI.md section 1 (the DIAMOND/IRIS protocol) prescribes."""

from __future__ import annotations

import difflib
from typing import Any, SupportsFloat

import ale_py
import gymnasium as gym
from gymnasium.wrappers import AtariPreprocessing

from ablate.errors import UsageError

gym.register_envs(ale_py)

MAX_EPISODE_FRAMES = 108_000  # 30 minutes of play; ALE truncates the episode itself (noop frames count)
NOOP_MAX = 30
ACTION_REPEAT = 4
FRAME_SIZE = 64


class EndOnLifeLoss(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Losing a life ends the episode, but the game plays on (DIAMOND's `done_on_life_loss`).

    gymnasium's `terminal_on_life_loss` would make the next reset() restart the whole game, so training would
    only ever see the first life; here reset() right after a life loss resumes at the next life instead.
    A reset with a seed or options always restarts the game, so seeded resets stay deterministic.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)  # lets env.spec rebuild the wrapped env
        gym.Wrapper.__init__(self, env)
        self._lives = 0
        self._resume: tuple[Any, dict[str, Any]] | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        resume, self._resume = self._resume, None
        if resume is not None and seed is None and options is None:
            return resume
        obs, info = self.env.reset(seed=seed, options=options)
        self._lives = info["lives"]
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        self._resume = None  # stepping on past a lost life means the caller did not want to resume there
        obs, reward, terminated, truncated, info = self.env.step(action)
        life_lost = info["lives"] < self._lives
        self._lives = info["lives"]
        if life_lost and not (terminated or truncated):
            self._resume = (obs, info)
            terminated = True
        return obs, reward, terminated, truncated, info


def make_atari_env(game: str, seed: int, *, train: bool) -> gym.Env:
    """`ALE/<game>-v5` with the Atari100k preprocessing, observations uint8 (64, 64, 3), raw rewards.

    The env comes back already reset with `seed` (its action space seeded too), so the same seed and the same
    actions give the same trajectory; start each episode with a plain reset().
    """
    env_id = f"ALE/{game}-v5"
    if env_id not in gym.registry:
        ale_games = [name[4:-3] for name in gym.registry if name.startswith("ALE/") and name.endswith("-v5")]
        close = difflib.get_close_matches(game, ale_games, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "expected an ALE name such as 'Pong' or 'MsPacman'"
        raise UsageError(f"unknown Atari game '{game}': {hint}")
    env = gym.make(
        env_id,
        frameskip=1,  # AtariPreprocessing repeats actions itself, so it can max-pool the last two frames
        repeat_action_probability=0.0,
        full_action_space=False,
        max_num_frames_per_episode=MAX_EPISODE_FRAMES,
    )
    # The emulator's banner has been printed once in this process; the evaluation envs that follow stay quiet.
    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
    env = AtariPreprocessing(
        env,
        noop_max=NOOP_MAX,  # draws 1..NOOP_MAX no-ops per reset
        frame_skip=ACTION_REPEAT,
        screen_size=FRAME_SIZE,  # cv2.INTER_AREA
        terminal_on_life_loss=False,  # EndOnLifeLoss does it without restarting the game
        grayscale_obs=False,
    )
    if train:
        env = EndOnLifeLoss(env)
    env.action_space.seed(seed)
    env.reset(seed=seed)
    return env
