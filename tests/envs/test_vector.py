"""Vector envs on real simulators: batching, seeding, SAME_STEP autoreset, multi-task, crash recovery."""

from __future__ import annotations

import _thread
import logging
import signal
import threading

import numpy as np
import pytest
from crashy_env import CRASHY_ID
from gymnasium.vector.utils import concatenate, create_empty_array

import gea.envs
from gea.envs.vector import MultiTaskVecEnv, make_vec
from gea.errors import EnvWorkerError, UnknownEnvError

pytestmark = pytest.mark.timeout(120)


def _rollout(asynchronous: bool, steps: int = 12) -> list[np.ndarray]:
    envs = make_vec("cartpole", 3, asynchronous=asynchronous, seed=7, image_size=16)
    try:
        obs, _ = envs.reset()
        images = [obs["image"]]
        for step in range(steps):
            obs, *_ = envs.step(np.array([step % 2, 1, 0]))
            images.append(obs["image"])
        return images
    finally:
        envs.close()


def test_batched_observations_and_spaces() -> None:
    envs = make_vec("cartpole", 2, image_size=16)
    obs, info = envs.reset(seed=0)
    assert obs["image"].shape == (2, 16, 16, 3) and obs["image"].dtype == np.uint8
    assert obs["instruction"] == ("keep the pole upright", "keep the pole upright")
    assert obs["proprio"].shape == (2, 4)
    assert envs.observation_space.contains(obs)
    assert info["success"].tolist() == [False, False]
    assert not np.array_equal(obs["proprio"][0], obs["proprio"][1]), "env i must be seeded with seed + i"
    obs, rewards, terminated, truncated, info = envs.step(["push left", "push right"])
    assert rewards.shape == (2,) and terminated.dtype == np.bool_ and truncated.dtype == np.bool_
    assert envs.metadata["autoreset_mode"].value == "SameStep"
    assert [image.shape for image in envs.render()] == [(16, 16, 3), (16, 16, 3)]
    envs.close()


def test_batched_observations_equal_gymnasiums_concatenate() -> None:
    envs = make_vec("cartpole", 3, asynchronous=False, image_size=8)
    singles = [gea.envs.make("cartpole", image_size=8) for _ in range(3)]
    try:
        observations = [env.reset(seed=index)[0] for index, env in enumerate(singles)]
        space = envs.single_observation_space
        for step in range(20):
            expected = concatenate(space, observations, create_empty_array(space, 3))
            batched = envs._batch(observations)
            assert batched.keys() == expected.keys() and batched["instruction"] == expected["instruction"]
            for key in ("image", "proprio"):
                assert batched[key].dtype == expected[key].dtype
                np.testing.assert_array_equal(batched[key], expected[key])
            observations = [env.step(step % 2)[0] for env in singles]
    finally:
        envs.close()
        for env in singles:
            env.close()


def test_same_seed_same_observations_async_and_sync() -> None:
    first, second, local = _rollout(True), _rollout(True), _rollout(False)
    for a, b, c in zip(first, second, local, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_same_step_autoreset_reports_final_observation() -> None:
    envs = make_vec("cartpole", 2, seed=1, image_size=16, max_episode_steps=3)
    obs, _ = envs.reset()
    for _ in range(2):
        _, _, terminated, truncated, info = envs.step(np.array([0, 1]))
        assert not (terminated | truncated).any()
    obs, _, terminated, truncated, info = envs.step(np.array([0, 1]))
    assert truncated.all() and not terminated.any()
    assert info["_final_obs"].all() and info["final_obs"][0]["image"].shape == (16, 16, 3)
    assert info["final_info"]["success"].dtype == np.bool_
    # the returned observation already belongs to the next episode: stepping continues without a reset step
    assert not np.array_equal(obs["proprio"], np.stack([o["proprio"] for o in info["final_obs"]]))
    _, _, terminated, truncated, _ = envs.step(np.array([0, 1]))
    assert not (terminated | truncated).any()
    envs.close()


@pytest.mark.parametrize("mode", ["exit", "segfault", "sigkill"])
def test_dead_worker_is_restarted_and_episode_truncated(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    envs = make_vec(CRASHY_ID, 2, seed=0, num_workers=2, imports=("crashy_env",), image_size=16, mode=mode, at_step=3)
    obs, _ = envs.reset()
    old_pids = [worker.process.pid for worker in envs._pool.workers]
    for _ in range(2):
        obs, *_ = envs.step(np.array([0, 1]))
    with caplog.at_level(logging.WARNING, logger="gea.envs.workers"):
        new_obs, rewards, terminated, truncated, info = envs.step(np.array([0, 1]))
    assert truncated.all() and not terminated.any() and rewards.tolist() == [0.0, 0.0]
    assert info["worker_restarted"].all()
    np.testing.assert_array_equal(info["final_obs"][1]["image"], obs["image"][1])
    assert new_obs["image"].shape == (2, 16, 16, 3)
    assert [worker.process.pid for worker in envs._pool.workers] != old_pids
    assert f"worker 0 (env 0 {CRASHY_ID!r})" in caplog.text and f"worker 1 (env 1 {CRASHY_ID!r})" in caplog.text
    _, _, terminated, truncated, info = envs.step(np.array([0, 1]))  # the fresh workers keep going
    assert not (terminated | truncated).any() and "worker_restarted" not in info
    envs.close()


def test_hung_worker_is_killed_after_step_timeout(caplog: pytest.LogCaptureFixture) -> None:
    envs = make_vec(CRASHY_ID, 1, imports=("crashy_env",), step_timeout=2.0, image_size=16, mode="hang", at_step=1)
    envs.reset(seed=0)
    with caplog.at_level(logging.WARNING, logger="gea.envs.workers"):
        _, _, _, truncated, info = envs.step(np.array([0]))
    assert truncated.all() and info["worker_restarted"].all()
    assert "step timeout" in caplog.text
    envs.close()


def test_exception_in_env_code_is_reraised_with_traceback() -> None:
    envs = make_vec(CRASHY_ID, 2, imports=("crashy_env",), image_size=16, mode="raise", at_step=1)
    envs.reset(seed=0)
    with pytest.raises(EnvWorkerError, match="crashy env failed on purpose") as caught:
        envs.step(np.array([0, 1]))
    assert CRASHY_ID in str(caught.value) and "traceback in the worker" in str(caught.value)
    assert "crashy_env.py" in str(caught.value)
    envs.close()


def test_interrupted_wait_keeps_replies_in_order() -> None:
    envs = make_vec(CRASHY_ID, 2, imports=("crashy_env",), image_size=16, mode="slow", at_step=1)
    envs.reset(seed=0)
    # Python raises KeyboardInterrupt only if SIGINT is handled; a shell's background job starts with it ignored
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, _thread.interrupt_main)  # Ctrl-C while the parent waits for the slow step
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            envs.step(np.array([0, 1]))
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)
    obs, rewards, *_ = envs.step(np.array([0, 1]))  # the interrupted step's replies are dropped first
    assert obs["image"].shape == (2, 16, 16, 3) and rewards.tolist() == [1.0, 1.0]
    assert envs.call("instruction") == ("keep the pole upright", "keep the pole upright")
    envs.close()


def test_startup_errors_are_clear() -> None:
    with pytest.raises(UnknownEnvError):
        make_vec("cartpol", 2)
    with pytest.raises(EnvWorkerError, match=r"failed while building the environment.*TypeError"):
        make_vec("cartpole", 1, no_such_option=1)


def test_close_stops_worker_processes() -> None:
    envs = make_vec("cartpole", 2, image_size=16)
    processes = [worker.process for worker in envs._pool.workers]
    envs.close()
    assert not any(process.is_alive() for process in processes)


def test_multitask_mixes_embodiments() -> None:
    ids = ["cartpole", "gym:Pendulum-v1"]
    with MultiTaskVecEnv(ids, env_kwargs={"image_size": 16}, seed=3) as envs:
        assert [spec.action_kind for spec in envs.specs] == ["discrete", "continuous"]
        obs, infos = envs.reset()
        assert [o["proprio"].shape for o in obs] == [(4,), (3,)]
        assert all(info["success"] is False for info in infos)
        for _ in range(3):
            obs, rewards, terminated, _, infos = envs.step([1, np.array([0.5], np.float32)])
        assert rewards.dtype == np.float64 and terminated.shape == (2,)
        assert envs.call("instruction")[0] == "keep the pole upright"
        assert [space.n if hasattr(space, "n") else space.shape for space in envs.action_spaces] == [2, (1,)]


def test_multitask_crash_only_affects_the_crashed_env() -> None:
    ids = ["cartpole", CRASHY_ID]
    kwargs = [{"image_size": 16}, {"image_size": 16, "mode": "exit", "at_step": 2}]
    with MultiTaskVecEnv(ids, env_kwargs=kwargs, imports=("crashy_env",), seed=0) as envs:
        envs.reset()
        envs.step([0, 0])
        _, _, terminated, truncated, infos = envs.step([0, 0])
        assert truncated.tolist() == [False, True] and not terminated.any()
        assert "worker_restarted" not in infos[0] and infos[1]["worker_restarted"] is True
        assert infos[1]["final_info"]["success"] is False


def test_multitask_navigation_manipulation_and_game() -> None:
    pytest.importorskip("minigrid", reason="BabyAI needs the optional 'babyai' extra (minigrid)")
    pytest.importorskip("metaworld", reason="Meta-World needs the optional 'metaworld' extra")
    ids = ["babyai:GoToLocal", "metaworld:reach-v3", "cartpole"]
    with MultiTaskVecEnv(ids, env_kwargs={"image_size": 32}) as envs:
        assert [spec.domain for spec in envs.specs] == ["navigation", "manipulation", "game"]
        obs, _ = envs.reset(seed=5)
        again, _ = envs.reset(seed=5)
        for first, second in zip(obs, again, strict=True):
            np.testing.assert_array_equal(first["image"], second["image"])
        assert all(o["image"].shape == (32, 32, 3) for o in obs)
        actions = [envs.specs[0].action.names.index("move forward"), np.full(4, 0.5, np.float32), 0]
        obs, rewards, _, _, infos = envs.step(actions)
        assert rewards.shape == (3,) and all(isinstance(info["success"], bool) for info in infos)
        assert "go to" in obs[0]["instruction"] and obs[1]["instruction"]
        state = envs.call_env(1, "state")  # privileged state for a scripted expert, read in the worker
        assert state.shape == (39,)
