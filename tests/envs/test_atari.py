"""Atari adapter: contract, action table, episode ends, options, seeding and reference scores on real ROMs."""

import importlib.util

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import gea.envs
from gea.envs.adapters.atari_data import (
    human_normalized_score,
    load_action_table,
    load_atari_scores,
    probe_rom,
    rom_to_name,
    success_threshold,
)
from gea.envs.adapters.atari_games import FULL_ACTION_SET, action_words
from gea.errors import InvalidActionError, UnknownEnvError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ale_py") is None, reason="ale-py is an optional extra: pip install 'gea[atari]'"
)


@pytest.mark.parametrize("env_id", ["atari:Pong", "atari:Breakout"])
def test_follows_contract(env_id: str) -> None:
    env = gea.envs.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=11)
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
    assert obs["instruction"].startswith("play ") and info["success"] is False
    for step in range(30):
        obs, reward, _, _, info = env.step(step % env.action_space.n)
        assert isinstance(info["success"], bool) and isinstance(reward, float) and info["lives"] >= 0
    np.testing.assert_array_equal(env.render(), obs["image"])
    first, _ = env.reset(seed=11)
    again, _ = env.reset(seed=11)
    np.testing.assert_array_equal(first["image"], again["image"])
    env.close()


def test_same_seed_same_trajectory_with_sticky_actions_and_noop_starts() -> None:
    env = gea.envs.make("atari:Breakout", noop_max=30, repeat_action_probability=0.25)

    def rollout(seed: int) -> list[np.ndarray]:
        images = [env.reset(seed=seed)[0]["image"]]
        images += [env.step(step % 4)[0]["image"] for step in range(40)]
        return images

    for a, b in zip(rollout(5), rollout(5), strict=True):
        np.testing.assert_array_equal(a, b)
    env.close()


def test_registered_games() -> None:
    ids = gea.envs.list_envs(contains="atari:")
    standard = gea.envs.list_envs(tag="atari57")
    assert len(ids) == len(load_action_table()) >= 100
    assert len(standard) == 57 == len(load_atari_scores())
    assert {f"atari:{rom_to_name(rom)}" for rom in load_atari_scores()} == set(standard)
    assert "atari:MontezumaRevenge" in ids and "atari:SpaceInvaders" in ids


@pytest.mark.parametrize("rom", ["pong", "breakout", "ms_pacman", "seaquest", "montezuma_revenge"])
def test_action_table_matches_ale(rom: str) -> None:
    import ale_py
    from ale_py import roms

    ale = ale_py.ALEInterface()
    ale.setLoggerMode(ale_py.LoggerMode.Error)
    ale.loadROM(roms.get_rom_path(rom))
    assert load_action_table()[rom] == tuple(action.name for action in ale.getMinimalActionSet())
    assert [action.name for action in ale.getLegalActionSet()] == list(FULL_ACTION_SET)


def test_probe_rom_reads_the_minimal_set() -> None:
    assert probe_rom("pong") == list(load_action_table()["pong"])


def test_action_names_in_words() -> None:
    assert gea.envs.spec("atari:Pong").action.names == (
        "do nothing",
        "fire",
        "right",
        "left",
        "right and fire",
        "left and fire",
    )
    assert action_words("DOWNLEFTFIRE") == "down, left and fire"
    assert action_words("UPRIGHT") == "up and right"
    with pytest.raises(ValueError, match="not an ALE action name"):
        action_words("JUMP")


def test_full_action_space() -> None:
    env = gea.envs.make("atari-full:Pong")
    env.reset(seed=0)
    env.step("up, right and fire")
    assert env.action_space.n == 18
    env.close()
    with pytest.raises(UnknownEnvError, match="Did you mean: Pong"):
        gea.envs.spec("atari-full:Ponng")


def test_life_loss_can_end_the_episode() -> None:
    env = gea.envs.make("atari:Breakout", terminal_on_life_loss=True, repeat_action_probability=0.0)
    _, info = env.reset(seed=0)
    assert info["lives"] == 5
    env.step("fire")
    terminated = False
    for _ in range(500):
        _, _, terminated, truncated, info = env.step("do nothing")
        if terminated or truncated:
            break
    assert terminated and info["lives"] == 4
    assert env.reset()[1]["lives"] == 5
    env.close()


def test_frameskip_and_native_image_size() -> None:
    env = gea.envs.make("atari:Pong", frameskip=2, image_size=(210, 160))
    obs, _ = env.reset(seed=0)
    ale = env.unwrapped.ale
    start = ale.getEpisodeFrameNumber()
    later, *_ = env.step(0)
    assert ale.getEpisodeFrameNumber() - start == 2
    assert obs["image"].shape == (210, 160, 3) and later["image"] is not obs["image"]
    env.close()


def test_success_follows_the_return_threshold() -> None:
    assert success_threshold("pong") == 0.0  # versus game: ahead of the opponent
    assert success_threshold("breakout") == load_atari_scores()["breakout"].random
    assert success_threshold("tetris") == 0.0  # no reference score: any points
    env = gea.envs.make("atari:Breakout")
    env.reset(seed=0)
    assert env.step("fire")[4]["success"] is False
    env.unwrapped.success_threshold = -1.0
    assert env.step("fire")[4]["success"] is True
    env.close()


def test_human_normalized_scores() -> None:
    assert human_normalized_score("atari:Pong", 14.6) == pytest.approx(1.0)
    assert human_normalized_score("pong", -20.7) == pytest.approx(0.0)
    assert human_normalized_score("MontezumaRevenge", 4753.3 / 2) == pytest.approx(0.5)
    with pytest.raises(KeyError, match="no reference scores"):
        human_normalized_score("tetris", 1.0)


def test_bad_options_and_actions() -> None:
    with pytest.raises(ValueError, match="frameskip"):
        gea.envs.make("atari:Pong", frameskip=0)
    with pytest.raises(ValueError, match="mode 99 is unavailable"):
        gea.envs.make("atari:Pong", mode=99)
    env = gea.envs.make("atari:Pong")
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="out of range"):
        env.step(6)
    with pytest.raises(InvalidActionError, match="unknown action name"):
        env.step("up")
    with pytest.raises(InvalidActionError, match="expected one integer"):
        env.step(1.0)
    env.close()
