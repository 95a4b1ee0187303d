"""Environment factories: one canonical game name ("Pong", "MsPacman", or "catch") -> a gymnasium env."""

from __future__ import annotations

import multiprocessing
import os
from contextlib import closing
from functools import partial

import gymnasium as gym
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv, VectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics

from ablate.envs.atari import make_atari_env
from ablate.envs.catch import CatchEnv
from ablate.errors import UsageError

__all__ = ["CATCH", "CatchEnv", "action_count", "make_atari_env", "make_env", "make_vector_env", "num_actions"]

CATCH = "catch"


def make_env(game: str, seed: int, *, train: bool, max_episode_steps: int | None = None) -> gym.Env:
    """One environment, already reset with `seed` (action space seeded too); start episodes with reset().

    `max_episode_steps` caps episodes below the protocol's 108k frames (reduced budgets only).
    """
    if game != CATCH:
        env = make_atari_env(game, seed, train=train)
    else:
        env = CatchEnv()  # no lives and 9-step episodes: `train` and the frame cap change nothing
        env.action_space.seed(seed)
        env.reset(seed=seed)
    if max_episode_steps is not None:
        env = gym.wrappers.TimeLimit(env, max_episode_steps)
        env.reset(seed=seed)
    return env


def make_vector_env(
    game: str, seed: int, num_envs: int, *, train: bool, max_episode_steps: int | None = None
) -> VectorEnv:
    """`num_envs` copies of `game` stepped as a batch; sub-env i is seeded with seed + i.

    Autoreset is AutoresetMode.SAME_STEP: the step that ends an episode already returns the next episode's
    first observation (the last one is in info["final_obs"]), and RecordEpisodeStatistics reports the finished
    episodes in that same step: returns info["episode"]["r"][info["_episode"]]. With train=True an Atari
    "episode" ends at each lost life, so these are per-life returns; evaluate with train=False.

    Atari envs run one per subprocess (AsyncVectorEnv) when every env gets its own core, else in-process
    (SyncVectorEnv). Subprocesses are spawned, so a script that calls this at import time needs the usual
    `if __name__ == "__main__":` guard.
    """
    if num_envs < 1:
        raise UsageError(f"num_envs must be at least 1, got {num_envs}")
    env_fns = [
        partial(make_env, game, seed + i, train=train, max_episode_steps=max_episode_steps) for i in range(num_envs)
    ]
    if _use_subprocesses(game, num_envs):
        # spawn, not fork: forking a process that already runs torch/CUDA or MLflow threads can deadlock
        vec: VectorEnv = AsyncVectorEnv(env_fns, context="spawn", autoreset_mode=AutoresetMode.SAME_STEP)
    else:
        vec = SyncVectorEnv(env_fns, autoreset_mode=AutoresetMode.SAME_STEP)
    return RecordEpisodeStatistics(vec)


def _use_subprocesses(game: str, num_envs: int) -> bool:
    """An Atari step (~0.5 ms) is worth a process per env when each gets a core; catch steps cost less than IPC.

    A daemonic process (e.g. a multiprocessing.Pool worker) may not start children, so it steps in-process.
    """
    return (
        game != CATCH
        and num_envs > 1
        and num_envs <= _usable_cores()  # with more processes than cores, Async measured slower than Sync
        and not multiprocessing.current_process().daemon
    )


def _usable_cores() -> int:
    # sched_getaffinity (Linux only) honours CPU pinning by containers and taskset; cpu_count does not.
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def num_actions(game: str) -> int:
    """Size of the game's (minimal) action set."""
    with closing(make_env(game, 0, train=False)) as env:
        return action_count(env)


def action_count(env: gym.Env) -> int:
    """Size of an env's action set: every game here has a discrete one."""
    space = env.action_space
    if not isinstance(space, gym.spaces.Discrete):
        raise TypeError(f"expected a discrete action space, got {space}")
    return int(space.n)
