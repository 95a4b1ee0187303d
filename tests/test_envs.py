"""Environments: the Atari100k protocol of JEDI.md section 1, the catch sanity game, and batched envs."""

from __future__ import annotations

import multiprocessing

import cv2
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AsyncVectorEnv, SyncVectorEnv

from ablate.envs import _usable_cores, make_env, make_vector_env, num_actions
from ablate.envs.atari import make_atari_env
from ablate.envs.catch import BALL, PADDLE, CatchEnv
from ablate.errors import UsageError

NOOP, FIRE = 0, 1  # the first two actions of Breakout's minimal set
# check_env rightly notes that it is handed a wrapped env: the wrappers are what we want checked.
CHECK_ENV_WARNINGS = "ignore:.*different from the unwrapped version"


def _play(env: gym.Env, actions: list[int] | np.ndarray) -> tuple[list, list, list]:
    """Step through `actions`, return the observations, rewards and termination flags."""
    steps = [env.step(a) for a in actions]
    return [s[0] for s in steps], [s[1] for s in steps], [s[2] for s in steps]


# --- Atari -----------------------------------------------------------------------------------------


def test_atari_observation_and_config():
    env = make_atari_env("Pong", 0, train=False)
    obs, _ = env.reset()
    assert env.observation_space.shape == obs.shape == (64, 64, 3)
    assert obs.dtype == np.uint8 and env.observation_space.contains(obs)
    assert obs.std() > 0  # a real RGB frame, not a blank one
    ale = env.unwrapped.ale
    assert ale.getFloat("repeat_action_probability") == 0.0
    assert ale.getInt("max_num_frames_per_episode") == 108_000  # ALE truncates at this frame itself
    assert env.unwrapped.get_action_meanings() == ["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"]
    assert num_actions("Pong") == 6 and num_actions("Breakout") == 4
    env.close()


def test_unknown_game_is_a_usage_error():
    with pytest.raises(UsageError, match=r"unknown Atari game 'Pongg': did you mean 'Pong'\?$"):
        make_atari_env("Pongg", 0, train=False)


def test_reset_takes_1_to_30_noops():
    env = make_atari_env("MsPacman", 0, train=False)
    noops, first_frames = [], set()
    for _ in range(40):
        obs, info = env.reset()
        noops.append(info["episode_frame_number"])  # the ALE starts each game at frame 0
        first_frames.add(obs.tobytes())
    assert all(1 <= n <= 30 for n in noops)
    assert len(set(noops)) >= 15 and min(noops) <= 5 and max(noops) >= 25
    assert len(first_frames) >= 10  # MsPacman's screen changes during the first frames
    env.close()


def test_action_repeat_is_4_with_max_over_last_two_frames():
    env = make_atari_env("MsPacman", 0, train=False)
    _, info = env.reset()
    ale = env.unwrapped.ale
    action_set = ale.getMinimalActionSet()
    frame = info["episode_frame_number"]
    pooled_differs = False
    for action in [0, 1, 2, 3, 4] * 20:
        state = ale.cloneState()
        obs, _, _, _, info = env.step(action)
        assert info["episode_frame_number"] == frame + 4
        frame += 4
        # Replay the same 4 frames by hand and rebuild the observation the protocol asks for.
        end = ale.cloneState()
        ale.restoreState(state)
        screens = []
        for _ in range(4):
            ale.act(action_set[action])
            screens.append(ale.getScreenRGB())
        ale.restoreState(end)
        pooled = np.maximum(screens[-2], screens[-1])
        assert np.array_equal(obs, cv2.resize(pooled, (64, 64), interpolation=cv2.INTER_AREA))
        pooled_differs |= not np.array_equal(pooled, screens[-1])
    assert pooled_differs  # the max-pooling was really exercised (MsPacman flickers)
    env.close()


def _breakout_until_life_lost(train: bool) -> tuple[gym.Env, list[tuple]]:
    env = make_atari_env("Breakout", 0, train=train)
    env.reset()
    steps = [env.step(FIRE)]
    while steps[-1][4]["lives"] == 5:
        steps.append(env.step(NOOP))
        assert len(steps) < 200, "Breakout with FIRE then NOOP should lose a life quickly"
    return env, steps


def test_life_loss_ends_episode_in_train_mode_only():
    train_env, train_steps = _breakout_until_life_lost(train=True)
    eval_env, eval_steps = _breakout_until_life_lost(train=False)
    assert len(train_steps) == len(eval_steps)  # same seed, same actions, same game
    assert [s[2] for s in train_steps] == [False] * (len(train_steps) - 1) + [True]
    assert not any(s[2] for s in eval_steps)
    # The game plays on at the next life: reset() resumes it instead of restarting it.
    last_obs, last_info = train_steps[-1][0], train_steps[-1][4]
    obs, info = train_env.reset()
    assert np.array_equal(obs, last_obs) and info["lives"] == 4
    assert info["episode_frame_number"] == last_info["episode_frame_number"]
    _, _, terminated, _, info = train_env.step(FIRE)
    assert not terminated and info["lives"] == 4
    # Any other reset restarts the game.
    _, info = train_env.reset()
    assert info["lives"] == 5 and info["episode_frame_number"] <= 30
    train_env.step(FIRE)
    assert train_env.reset(seed=1)[1]["lives"] == 5
    train_env.close()
    eval_env.close()


@pytest.mark.parametrize("train", [False, True])
def test_atari_is_deterministic_under_a_seed(train: bool) -> None:
    actions = np.random.default_rng(0).integers(9, size=150)
    runs = []
    for seed in (3, 3, 4):
        env = make_atari_env("MsPacman", seed, train=train)
        first, _ = env.reset()
        observations, rewards, _ = _play(env, actions)
        runs.append((first, observations, rewards))
        env.close()
    (first_a, obs_a, rew_a), (first_b, obs_b, rew_b), (first_c, _, _) = runs
    assert np.array_equal(first_a, first_b) and np.array_equal(np.stack(obs_a), np.stack(obs_b))
    assert rew_a == rew_b and sum(rew_a) > 0
    assert not np.array_equal(first_a, first_c)


@pytest.mark.filterwarnings(CHECK_ENV_WARNINGS)
@pytest.mark.parametrize("train", [False, True])
def test_gymnasium_check_env_atari(train: bool) -> None:
    check_env(make_atari_env("Pong", 0, train=train), skip_render_check=True)


# --- catch -----------------------------------------------------------------------------------------

_CELL_CENTRE_ROWS = ((np.arange(10) + 0.5) * 6.4).astype(int)
_CELL_CENTRE_COLS = ((np.arange(5) + 0.5) * 12.8).astype(int)


def _cells(obs: np.ndarray, colour: np.ndarray) -> list[tuple[int, int]]:
    """(row, column) of the grid cells drawn in `colour`."""
    grid = obs[_CELL_CENTRE_ROWS][:, _CELL_CENTRE_COLS]
    return [(int(r), int(c)) for r, c in zip(*np.nonzero((grid == colour).all(axis=-1)), strict=True)]


def test_gymnasium_check_env_catch():
    check_env(CatchEnv(), skip_render_check=True)
    check_env(make_env("catch", 0, train=True), skip_render_check=True)


def test_catch_ball_falls_and_episode_lasts_8_steps():
    env = CatchEnv()
    obs, _ = env.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    [(row, col)] = _cells(obs, BALL)
    assert row == 0 and _cells(obs, PADDLE) == [(9, 2)]  # paddle starts in the middle column
    for step in range(1, 9):
        obs, reward, terminated, truncated, _ = env.step(1)
        assert not truncated and terminated == (step == 8)
        assert _cells(obs, BALL) == [(step, col)] and _cells(obs, PADDLE) == [(9, 2)]  # never hidden
        if step < 8:
            assert reward == 0.0
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(1)


def _chase(env: CatchEnv, seed: int, catch: bool) -> float:
    """Steer the paddle under the ball (catch) or to the wall farthest from it; return the final reward."""
    obs, _ = env.reset(seed=seed)
    [(_, ball_col)] = _cells(obs, BALL)
    target = ball_col if catch else (0 if ball_col >= 2 else 4)
    for _ in range(8):
        [(_, paddle_col)] = _cells(obs, PADDLE)
        obs, reward, terminated, _, _ = env.step(int(np.sign(target - paddle_col)) + 1)
    assert terminated
    return reward


def test_catch_rewards():
    env = CatchEnv()
    assert all(_chase(env, seed, catch=True) == 1.0 for seed in range(10))
    assert all(_chase(env, seed, catch=False) == -1.0 for seed in range(10))


def test_catch_paddle_is_clipped_at_the_walls_and_cells_fill_the_frame():
    env = CatchEnv()
    env.reset(seed=0)
    obs, *_ = _play(env, [0] * 5)
    assert _cells(obs[-1], PADDLE) == [(9, 0)] and (obs[-1][-1, 0] == PADDLE).all()
    env.reset(seed=0)
    obs, *_ = _play(env, [2] * 5)
    assert _cells(obs[-1], PADDLE) == [(9, 4)] and (obs[-1][-1, 63] == PADDLE).all()


def test_catch_random_policy_scores_minus_0_6():
    # P(catch) = 1/5 exactly, so E[return] = 0.2 - 0.8 = -0.6; std 0.8, so 4000 episodes give SE 0.013.
    env = make_env("catch", 0, train=False)
    returns = []
    for _ in range(4000):
        env.reset()
        _, rewards, terminated = _play(env, [env.action_space.sample() for _ in range(8)])
        assert terminated[-1]
        returns.append(sum(rewards))
    assert np.mean(returns) == pytest.approx(-0.6, abs=0.05)


# --- vector envs -----------------------------------------------------------------------------------


def test_vector_catch_returns_and_same_step_autoreset():
    envs = make_vector_env("catch", 5, 3, train=False)
    obs, _ = envs.reset()
    assert obs.shape == (3, 64, 64, 3) and obs.dtype == np.uint8
    single = make_env("catch", 6, train=False)  # sub-env 1 is seeded with seed + 1
    assert np.array_equal(obs[1], single.reset()[0])
    for _ in range(8):
        obs, rewards, terminated, truncated, info = envs.step(envs.action_space.sample())
    assert rewards.shape == terminated.shape == (3,) and terminated.all() and not truncated.any()
    assert info["_episode"].all()
    assert np.array_equal(info["episode"]["r"], rewards) and set(rewards) <= {-1.0, 1.0}
    assert (info["episode"]["l"] == 8).all()
    assert all(_cells(o, BALL)[0][0] == 0 for o in obs)  # already the next episode's first frame
    assert all(_cells(o, BALL)[0][0] == 8 for o in info["final_obs"])
    envs.close()


def test_vector_atari_batches_and_readable_returns():
    envs = make_vector_env("Breakout", 0, 2, train=True)
    assert isinstance(envs.env, AsyncVectorEnv if _usable_cores() >= 2 else SyncVectorEnv)
    obs, _ = envs.reset()
    assert obs.shape == (2, 64, 64, 3) and obs.dtype == np.uint8
    actions = np.full(2, FIRE)
    for _ in range(200):
        obs, rewards, terminated, _, info = envs.step(actions)
        actions[:] = NOOP
        if "_episode" in info:
            break
    assert obs.shape == (2, 64, 64, 3) and rewards.shape == (2,)
    done = info["_episode"]
    assert done.any() and np.array_equal(done, terminated)  # a life lost ends the episode in training
    assert np.isfinite(info["episode"]["r"][done]).all() and (info["episode"]["l"][done] > 0).all()
    envs.close()


def _vector_env_kind(queue: multiprocessing.Queue) -> None:
    envs = make_vector_env("Pong", 0, 2, train=False)
    obs, _ = envs.reset()
    envs.step(np.zeros(2, dtype=int))
    queue.put((type(envs.env).__name__, obs.shape))
    envs.close()


@pytest.mark.slow
def test_vector_env_works_in_a_daemonic_spawned_process():
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    worker = ctx.Process(target=_vector_env_kind, args=(queue,), daemon=True)
    worker.start()
    result = queue.get(timeout=60)
    worker.join(timeout=10)
    # A daemonic process may not have children, so it falls back to stepping the envs in-process.
    assert result == (SyncVectorEnv.__name__, (2, 64, 64, 3))


@pytest.mark.slow
def test_the_emulator_banner_is_printed_once_per_process():
    import subprocess
    import sys

    code = (
        "from ablate.envs import make_env, make_vector_env\n"
        "make_env('Pong', 0, train=True)\n"
        "make_vector_env('Pong', 0, 3, train=False).close()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert (out.stdout + out.stderr).count("Arcade Learning Environment") == 1
