"""Procgen adapter: contract, action names, episode ends, seeding and level options on the real games."""

import importlib.util
import struct

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import gea.envs
from gea.envs.adapters.procgen_games import (
    PROCGEN_EASY_RETURN_RANGE,
    PROCGEN_GAMES,
    PROCGEN_TIMEOUTS,
    ProcgenEnv,
    action_names,
    normalized_return,
)
from gea.errors import InvalidActionError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("procgen") is None, reason="Procgen is an optional extra: pip install 'gea[procgen]'"
)

GAMES = ["procgen:coinrun", "procgen:starpilot", "procgen:maze"]


@pytest.mark.parametrize("env_id", GAMES)
def test_follows_contract(env_id: str) -> None:
    env = gea.envs.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=7)
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
    assert obs["instruction"] == PROCGEN_GAMES[env_id.split(":")[1]]
    assert info["success"] is False
    for step in range(20):
        obs, reward, terminated, truncated, info = env.step(step % 15)
        assert isinstance(info["success"], bool) and isinstance(reward, float)
        if terminated or truncated:
            obs, info = env.reset()
            assert info["success"] is False
    np.testing.assert_array_equal(env.render(), obs["image"])
    again, _ = env.reset(seed=7)
    first, _ = env.reset(seed=7)
    np.testing.assert_array_equal(again["image"], first["image"])
    env.close()


def test_seed_selects_the_level_sequence() -> None:
    env = gea.envs.make("procgen:coinrun")
    seeds = [env.reset(seed=s)[1]["level_seed"] for s in (1, 2, 1)]
    assert seeds[0] == seeds[2] != seeds[1]
    env.close()


def test_num_levels_and_start_level_bound_the_levels() -> None:
    env = gea.envs.make("procgen:maze", num_levels=1, start_level=42)
    assert {env.reset(seed=s)[1]["level_seed"] for s in range(3)} == {42}
    env.close()


def test_all_sixteen_games_with_normalization_ranges() -> None:
    ids = gea.envs.list_envs(contains="procgen:")
    assert len(ids) == 16 and set(PROCGEN_EASY_RETURN_RANGE) == set(PROCGEN_GAMES)
    for env_id in ids:
        spec = gea.envs.spec(env_id)
        assert spec.domain == "game" and len(set(spec.action.names)) == 15
    assert normalized_return("coinrun", 10.0) == 1.0 and normalized_return("coinrun", 5.0) == 0.0


def test_action_names_follow_procgen_button_order() -> None:
    from procgen.env import BaseProcgenEnv

    combos = BaseProcgenEnv.get_combos(None)  # type: ignore[arg-type]
    words = {"LEFT": "left", "RIGHT": "right", "UP": "up", "DOWN": "down"}
    for combo, name in zip(combos[:9], action_names("coinrun"), strict=False):
        assert name == (" and ".join(words[key] for key in combo) or "do nothing")
    assert [combo[0] for combo in combos[9:]] == ["D", "A", "W", "S", "Q", "E"]
    assert action_names("coinrun")[9] == "do nothing (key D)"
    assert action_names("bossfight")[9] == "fire"
    assert action_names("starpilot")[9:11] == ("fire forward", "fire backward")


def test_level_completion_is_success_and_keeps_the_next_level() -> None:
    env = gea.envs.make("procgen:coinrun")
    obs, info = env.reset(seed=0)
    ended = []
    for step in range(2000):
        previous = obs["image"]
        obs, reward, terminated, truncated, info = env.step("right and up" if step % 2 else "right")
        if terminated or truncated:
            np.testing.assert_array_equal(obs["image"], previous)  # the old level's last frame, not the new one
            ended.append((terminated, info["success"], reward, info["level_seed"]))
            obs, info = env.reset()
            assert info["level_seed"] != ended[-1][3]
        if len(ended) == 3:
            break
    assert any(success and terminated and reward > 0 for terminated, success, reward, _ in ended), ended
    env.close()


def test_timeout_is_truncation_without_success() -> None:
    timeout = PROCGEN_TIMEOUTS["maze"]
    env = gea.envs.make("procgen:maze", max_episode_steps=timeout + 10)
    env.reset(seed=1)
    steps, terminated, truncated = 0, False, False
    while not (terminated or truncated):
        _, _, terminated, truncated, info = env.step("do nothing")
        steps += 1
    assert (steps, terminated, truncated, info["success"]) == (timeout, False, True, False)
    env.close()


def _serialized_timeout(env: ProcgenEnv) -> int:
    """``Game::timeout`` from procgen's serialized state (layout of ``Game::serialize``)."""
    state, offset = env.gym3.get_state()[0], 0

    def read_int() -> int:
        nonlocal offset
        offset += 4
        return struct.unpack_from("<i", state, offset - 4)[0]

    def read_bytes() -> bytes:
        nonlocal offset
        size = read_int()
        offset += size
        return state[offset - size : offset]

    assert read_int() == 0 and read_bytes().decode() == env.game  # format version, game name
    for _ in range(17):  # options, grid and level-seed settings
        read_int()
    for _ in range(2):  # the two random generators
        read_int()
        read_bytes()
    offset += 4 * 4  # reward, done, level_complete, action
    return read_int()


def test_timeout_table_matches_the_games() -> None:
    for game in PROCGEN_GAMES:
        env = gea.envs.make(f"procgen:{game}")
        env.reset(seed=0)
        assert (
            _serialized_timeout(env.unwrapped)
            == PROCGEN_TIMEOUTS[game]
            == gea.envs.spec(f"procgen:{game}").max_episode_steps
        )
        env.close()


def test_reset_mid_episode_starts_a_new_level() -> None:
    env = gea.envs.make("procgen:maze", max_episode_steps=5)
    _, info = env.reset(seed=3)
    for _ in range(5):
        *_, truncated, _ = env.step(0)
    assert truncated
    assert env.reset()[1]["level_seed"] != info["level_seed"]
    env.close()


def test_image_size_and_options() -> None:
    env = gea.envs.make("procgen:fruitbot", image_size=(32, 48), distribution_mode="hard", use_backgrounds=False)
    obs, _ = env.reset(seed=0)
    assert obs["image"].shape == (32, 48, 3)
    env.close()
    with pytest.raises(ValueError, match="no 'extreme' distribution mode"):
        gea.envs.make("procgen:coinrun", distribution_mode="extreme")
    with pytest.raises(ValueError, match="distribution_mode must be one of"):
        gea.envs.make("procgen:coinrun", distribution_mode="medium")


def test_wrong_actions_are_rejected() -> None:
    env = gea.envs.make("procgen:starpilot")
    env.reset(seed=0)
    env.step("fire forward")
    with pytest.raises(InvalidActionError, match="out of range"):
        env.step(15)
    with pytest.raises(InvalidActionError, match="unknown action name"):
        env.step("jump")
    with pytest.raises(InvalidActionError, match="expected one integer"):
        env.step(np.array([1, 2]))
    env.close()
