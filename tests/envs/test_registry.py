"""Registry, contract wrapper and generic Gymnasium adapter."""

import json
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

import gea.envs
from gea.envs.adapters.gym_generic import flat_state
from gea.errors import InvalidActionError, MissingDependencyError, UnknownEnvError

HEADLESS_DEFAULTS = ("MUJOCO_GL", "PYOPENGL_PLATFORM", "SDL_VIDEODRIVER")
SIMULATOR_MODULES = (
    "metaworld",
    "mujoco",
    "minigrid",
    "procgen",
    "gym3",
    "ale_py",
    "miniwob",
    "selenium",
    "miniworld",
    "pyglet",
)


@pytest.mark.parametrize(
    ("env_id", "expected"),
    [
        ("metaworld:reach-v3", {"domain": "manipulation", "extra": "metaworld"}),
        ("babyai:BossLevel", {"domain": "navigation", "extra": "babyai"}),
        ("babyai-skills:BossLevel", {"domain": "planning"}),
        ("procgen:coinrun", {"actions": 15, "extra": "procgen"}),
        ("atari:Pong", {"actions": 6, "extra": "atari"}),
        ("atari-full:Pong", {"actions": 18, "extra": "atari"}),
        ("miniwob:enter-text", {"domain": "ui", "extra": "ui"}),
        ("miniworld:Maze", {"domain": "navigation", "extra": "nav3d"}),
    ],
)
def test_spec_starts_no_simulator(env_id: str, expected: dict[str, Any]) -> None:
    """Reading a spec and the whole registry (tags included) imports no simulator module, in a fresh process."""
    code = (
        "import json, sys, gea.envs; s = gea.envs.spec(sys.argv[1]); gea.envs.list_envs(tag='MT10'); "
        "print(json.dumps({'domain': s.domain, 'extra': s.extra, 'actions': getattr(s.action, 'n', None), "
        "'simulators': [name for name in sys.argv[2:] if name in sys.modules]}))"
    )
    out = subprocess.run([sys.executable, "-c", code, env_id, *SIMULATOR_MODULES], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert found["simulators"] == []
    assert {key: found[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, {"MUJOCO_GL": "egl", "PYOPENGL_PLATFORM": "egl", "SDL_VIDEODRIVER": "dummy"}),
        ({"MUJOCO_GL": "osmesa"}, {"MUJOCO_GL": "osmesa", "PYOPENGL_PLATFORM": "osmesa"}),
        ({"MUJOCO_GL": "glfw"}, {"MUJOCO_GL": "glfw", "PYOPENGL_PLATFORM": None}),
        ({"MUJOCO_GL": "osmesa", "PYOPENGL_PLATFORM": "egl"}, {"PYOPENGL_PLATFORM": "egl"}),
    ],
)
def test_headless_defaults_are_set_when_the_registry_is_first_read(
    given: dict[str, str], expected: dict[str, str | None]
) -> None:
    """Set before any adapter can import a simulator; ``PYOPENGL_PLATFORM`` follows ``MUJOCO_GL``; the user's win."""
    code = (
        "import json, os, sys, gea.envs; gea.envs.spec('cartpole'); "
        "print(json.dumps({name: os.environ.get(name) for name in sys.argv[1:]}))"
    )
    env = {key: value for key, value in os.environ.items() if key not in HEADLESS_DEFAULTS}
    out = subprocess.run(
        [sys.executable, "-c", code, *expected], env={**env, **given}, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == expected


def test_unknown_id_lists_close_matches() -> None:
    with pytest.raises(UnknownEnvError, match="Did you mean: cartpole"):
        gea.envs.make("cartpol")


def test_missing_dependency_names_the_extra() -> None:
    spec = gea.envs.EmbodimentSpec(
        id="test:needs-missing",
        domain="game",
        action=gea.envs.DiscreteActions(("noop",)),
        description="d",
        simulator="s",
        extra="nothing-here",
    )
    gea.envs.register(spec, requires=("module_that_does_not_exist_42",))(lambda **kw: None)
    assert not gea.envs.is_available("test:needs-missing")
    with pytest.raises(MissingDependencyError, match=r"pip install 'gea\[nothing-here\]'"):
        gea.envs.make("test:needs-missing")


@pytest.mark.parametrize("env_id", ["cartpole", "gym:CartPole-v1", "gym:Pendulum-v1"])
def test_generic_adapter_follows_contract(env_id: str) -> None:
    env = gea.envs.make(env_id, image_size=32)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=3)
    assert obs["image"].shape == (32, 32, 3) and obs["image"].dtype == np.uint8
    assert obs["proprio"].dtype == np.float32
    assert info["success"] is False
    _, _, _, _, info = env.step(env.action_space.sample())
    assert isinstance(info["success"], bool)
    again, _ = env.reset(seed=3)
    np.testing.assert_array_equal(obs["proprio"], again["proprio"])
    env.close()


@pytest.mark.parametrize(
    ("space", "state"),
    [
        (spaces.Box(-1, 1, (4,), np.float32), np.array([0.1, -0.2, 0.3, 1e-8], np.float32)),
        (spaces.Box(-1, 1, (2, 3), np.float64), np.asfortranarray(np.arange(6.0).reshape(2, 3) / 7)),
        (spaces.Box(0, 9, (3,), np.int32), [1.7, 2.2, 9.9]),  # truncated to the Box's dtype first
        (spaces.Box(0, 255, (2, 2, 3), np.uint8), np.arange(12, dtype=np.uint8).reshape(2, 2, 3)),
        (spaces.Dict({"a": spaces.Box(0, 1, (2,)), "b": spaces.Discrete(3)}), {"a": np.ones(2), "b": 2}),
        (spaces.Discrete(5), 3),
    ],
)
def test_flat_state_matches_spaces_flatten(space: spaces.Space[Any], state: Any) -> None:
    expected = spaces.flatten(space, state).astype(np.float32)
    flat = flat_state(space, state)
    assert flat.dtype == np.float32 and flat.shape == expected.shape
    np.testing.assert_array_equal(flat, expected)
    if isinstance(state, np.ndarray):
        assert not np.shares_memory(flat, state), "the proprio array must not alias the env's state"


def test_gym_ids_keep_gymnasiums_time_limit() -> None:
    assert gea.envs.spec("gym:CartPole-v1").max_episode_steps == 500
    assert gea.envs.spec("gym:MountainCar-v0").max_episode_steps == 200
    env = gea.envs.make("gym:MountainCar-v0", render_mode=None)
    env.reset(seed=0)
    steps, terminated, truncated = 0, False, False
    while not (terminated or truncated):
        _, _, terminated, truncated, _ = env.step(0)  # pushing left never reaches the flag
        steps += 1
    env.close()
    assert truncated and not terminated and steps == 200


def test_discrete_action_by_name_and_bad_actions() -> None:
    env = gea.envs.make("cartpole")
    env.reset(seed=0)
    env.step("push right")
    with pytest.raises(InvalidActionError, match="out of range"):
        env.step(7)
    with pytest.raises(InvalidActionError, match="unknown action name"):
        env.step("jump")
    with pytest.raises(InvalidActionError, match="expected one integer"):
        env.step(np.array([0.5]))
    env.close()


def test_continuous_action_shape_error() -> None:
    env = gea.envs.make("gym:Pendulum-v1")
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=r"shape \(1,\)"):
        env.step(np.zeros(3))
    env.close()


def test_success_from_return_threshold() -> None:
    env = gea.envs.make("cartpole", max_episode_steps=600)
    env.unwrapped.success_return = 3.0
    env.reset(seed=0)
    successes = [env.step(0)[4]["success"] for _ in range(3)]
    assert successes == [False, False, True]
    env.close()
