"""Vector envs with several envs per worker process: layout, determinism, crashes, shared-memory images."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from crashy_env import CRASHY_ID
from gymnasium.vector import SyncVectorEnv

from gea.envs.vector import MultiTaskVecEnv, batch_infos, make_vec
from gea.envs.workers import available_cores, split_envs, worker_cpus
from gea.errors import EnvWorkerError

pytestmark = pytest.mark.timeout(120)

SHM = Path("/dev/shm")


def _segments(envs: object) -> list[Path]:
    pool = envs._pool  # type: ignore[attr-defined]
    return [SHM / worker.slots.name for worker in pool.workers]


def _trajectory(num_workers: int, steps: int = 10) -> list[tuple[np.ndarray, ...]]:
    """Images, rewards, flags and final images of 5 short-episode CartPoles under fixed actions."""
    envs = make_vec("cartpole", 5, seed=11, num_workers=num_workers, image_size=16, max_episode_steps=4)
    try:
        obs, _ = envs.reset()
        record = [(obs["image"], obs["proprio"])]
        for step in range(steps):
            obs, rewards, terminated, truncated, info = envs.step(np.array([(step + i) % 2 for i in range(5)]))
            finals = np.stack(
                [
                    o["image"] if o is not None else np.zeros((16, 16, 3), np.uint8)
                    for o in info.get("final_obs", [None] * 5)
                ]
            )
            record.append((obs["image"], obs["proprio"], rewards, terminated, truncated, finals))
        return record
    finally:
        envs.close()


def test_split_envs_is_contiguous_and_balanced() -> None:
    assert split_envs(8, 2) == [range(0, 4), range(4, 8)]
    assert split_envs(5, 2) == [range(0, 3), range(3, 5)]
    assert split_envs(3, 3) == [range(0, 1), range(1, 2), range(2, 3)]
    with pytest.raises(ValueError, match="between 1 and the number of envs"):
        split_envs(2, 3)


INFO_CASES = {
    "scalars": [{"success": False, "x": 1}, {"success": True, "x": 2}, {"success": False, "x": 3}],
    "missing keys": [{"a": 1.5}, {}, {"b": np.float32(2.0), "c": "text"}],
    "arrays and objects": [{"v": np.arange(3)}, {"v": np.ones(3, np.int64), "o": [1, 2]}, {"o": None}],
    "nested and final_obs": [
        {"final_obs": {"image": np.zeros(2)}, "final_info": {"success": True, "n": {"k": 1}}},
        {"success": False},
        {"final_obs": {"image": np.ones(2)}, "final_info": {"success": False}},
    ],
}


def _gymnasium_infos(infos: list[dict[str, object]]) -> dict[str, object]:
    vector = SyncVectorEnv([lambda: __import__("gymnasium").make("CartPole-v1")] * len(infos))
    batched: dict[str, object] = {}
    for index, info in enumerate(infos):
        batched = vector._add_info(batched, info, index)
    vector.close()
    return batched


def _assert_same(ours: object, theirs: object) -> None:
    assert type(ours) is type(theirs)
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and ours.keys() == theirs.keys()
        for key in theirs:
            _assert_same(ours[key], theirs[key])
    elif isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray) and (ours.dtype, ours.shape) == (theirs.dtype, theirs.shape)
        if theirs.dtype == object:
            for mine, expected in zip(ours, theirs, strict=True):
                _assert_same(mine, expected)
        else:
            np.testing.assert_array_equal(ours, theirs)
    else:
        assert ours == theirs


@pytest.mark.parametrize("case", list(INFO_CASES))
def test_batched_infos_match_gymnasium(case: str) -> None:
    infos = INFO_CASES[case]
    _assert_same(batch_infos(infos, len(infos)), _gymnasium_infos(infos))


def test_workers_run_as_batch_processes_pinned_one_per_core() -> None:
    cores = sorted(os.sched_getaffinity(0))
    assert worker_cpus(len(cores), False) == [None] * len(cores)
    assert worker_cpus(len(cores) + 1, True) == [*cores, cores[0]]
    assert worker_cpus(len(cores), None) == (cores if len(cores) > 1 else [None])
    envs = make_vec("cartpole", 2, num_workers=1, image_size=16, pin_workers=True)
    try:
        (worker,) = envs._pool.workers
        assert os.sched_getscheduler(worker.process.pid) == os.SCHED_BATCH
        assert os.sched_getaffinity(worker.process.pid) == {cores[0]}
    finally:
        envs.close()


def test_worker_layout_and_default_count() -> None:
    envs = make_vec("cartpole", 5, num_workers=2, image_size=16)
    assert [len(worker.env_fns) for worker in envs._pool.workers] == [3, 2]
    assert len({worker.process.pid for worker in envs._pool.workers}) == 2
    assert envs.call("instruction") == ("keep the pole upright",) * 5
    envs.close()
    envs = make_vec("cartpole", 3, image_size=16)
    assert len(envs._pool.workers) == min(3, available_cores())
    envs.close()
    with pytest.raises(ValueError, match="num_workers must be between 0"):
        make_vec("cartpole", 2, num_workers=3)
    with pytest.raises(ValueError, match="asynchronous=False"):
        make_vec("cartpole", 2, asynchronous=False, num_workers=2)


def test_results_do_not_depend_on_the_number_of_workers() -> None:
    one_each, shared, local = _trajectory(5), _trajectory(2), _trajectory(0)
    assert any(step[4].any() for step in one_each[1:]), "the rollout must cross episode ends (autoreset)"
    for a, b, c in zip(one_each, shared, local, strict=True):
        for x, y, z in zip(a, b, c, strict=True):
            np.testing.assert_array_equal(x, y)
            np.testing.assert_array_equal(x, z)


def test_babyai_images_through_shared_memory_match_in_process() -> None:
    pytest.importorskip("minigrid", reason="BabyAI needs the optional 'babyai' extra (minigrid)")
    actions = [[step % 3, 2, 1, 2] for step in range(6)]
    runs = []
    for num_workers in (2, 0):
        envs = make_vec("babyai:GoToLocal", 4, seed=3, num_workers=num_workers, image_size=32)
        obs, _ = envs.reset()
        images = [obs["image"]]
        for action in actions:
            obs, *_ = envs.step(action)
            images.append(obs["image"])
        assert obs["instruction"] == tuple(envs.call("instruction"))
        runs.append(images)
        envs.close()
    for parallel, local in zip(*runs, strict=True):
        assert parallel.shape == (4, 32, 32, 3)
        np.testing.assert_array_equal(parallel, local)


def test_crash_in_a_multi_env_worker_truncates_all_its_envs(caplog: pytest.LogCaptureFixture) -> None:
    ids = ["cartpole", "cartpole", CRASHY_ID, "cartpole"]
    kwargs = [{"image_size": 16}] * 2 + [{"image_size": 16, "mode": "segfault", "at_step": 3}, {"image_size": 16}]
    with MultiTaskVecEnv(ids, env_kwargs=kwargs, imports=("crashy_env",), seed=0, num_workers=2) as envs:
        envs.reset()
        pids = [worker.process.pid for worker in envs._pool.workers]
        segments = _segments(envs)
        for _ in range(2):
            obs, *_ = envs.step([0, 1, 0, 1])
        with caplog.at_level(logging.WARNING, logger="gea.envs.workers"):
            new_obs, rewards, terminated, truncated, infos = envs.step([0, 1, 0, 1])
        assert truncated.tolist() == [False, False, True, True] and not terminated.any()
        assert rewards[2:].tolist() == [0.0, 0.0]
        assert [info.get("worker_restarted", False) for info in infos] == [False, False, True, True]
        assert all(info["final_info"] == {"success": False, "worker_restarted": True} for info in infos[2:])
        np.testing.assert_array_equal(infos[3]["final_obs"]["image"], obs[3]["image"])
        assert f"worker 1 (envs 2 {CRASHY_ID!r}, 3 'cartpole')" in caplog.text
        assert "exit code" in caplog.text
        new_pids = [worker.process.pid for worker in envs._pool.workers]
        assert new_pids[0] == pids[0] and new_pids[1] != pids[1]
        assert _segments(envs) == segments, "the restarted worker reattaches to the same image block"
        # the new worker writes its images into the block: they match what its envs render
        for index in (2, 3):
            np.testing.assert_array_equal(new_obs[index]["image"], envs.call_env(index, "render"))
        obs, _, terminated, truncated, infos = envs.step([0, 1, 0, 1])
        assert not (terminated | truncated).any() and not any("worker_restarted" in info for info in infos)
        for index in range(4):
            np.testing.assert_array_equal(obs[index]["image"], envs.call_env(index, "render"))
    assert not any(segment.exists() for segment in segments)


def test_hung_multi_env_worker_is_restarted(caplog: pytest.LogCaptureFixture) -> None:
    envs = make_vec(
        CRASHY_ID, 4, num_workers=2, imports=("crashy_env",), step_timeout=2.0, image_size=16, mode="hang", at_step=2
    )
    envs.reset(seed=0)
    envs.step(np.zeros(4, np.int64))
    with caplog.at_level(logging.WARNING, logger="gea.envs.workers"):
        _, rewards, _, truncated, info = envs.step(np.zeros(4, np.int64))
    assert truncated.all() and info["worker_restarted"].all() and not rewards.any()
    assert f"worker 0 (envs 0-1 {CRASHY_ID!r})" in caplog.text and "step timeout" in caplog.text
    envs.close()


def test_exception_names_the_env_inside_a_multi_env_worker() -> None:
    ids = ["cartpole", CRASHY_ID, "cartpole"]
    kwargs = [{"image_size": 16}, {"image_size": 16, "mode": "raise", "at_step": 1}, {"image_size": 16}]
    with MultiTaskVecEnv(ids, env_kwargs=kwargs, imports=("crashy_env",), num_workers=1) as envs:
        envs.reset(seed=0)
        with pytest.raises(EnvWorkerError, match="crashy env failed on purpose") as caught:
            envs.step([0, 0, 0])
        assert f"env 1 {CRASHY_ID!r} (worker 0) raised an exception during step" in str(caught.value)
        assert envs.call_env(2, "instruction") == "keep the pole upright"
    with pytest.raises(EnvWorkerError, match=r"env 1 'cartpole' \(worker 0\) failed while building"):
        MultiTaskVecEnv(["cartpole", "cartpole"], env_kwargs=[{}, {"no_such_option": 1}], num_workers=1)


def test_shared_memory_is_released_on_close() -> None:
    envs = make_vec("cartpole", 4, num_workers=2, image_size=16)
    segments = _segments(envs)
    assert len(set(segments)) == 2 and all(segment.exists() for segment in segments)
    envs.reset(seed=0)
    envs.step(np.zeros(4, np.int64))
    envs.close()
    assert not any(segment.exists() for segment in segments)


def test_no_shared_memory_leak_reported_at_interpreter_exit() -> None:
    script = (
        "import numpy as np\n"
        "from gea.envs.vector import make_vec\n"
        "if __name__ == '__main__':\n"
        "    envs = make_vec('cartpole', 2, num_workers=2, image_size=16)\n"
        "    envs.reset(seed=0)\n"
        "    envs.step(np.zeros(2, np.int64))\n"
        "    print(' '.join(worker.slots.name for worker in envs._pool.workers))\n"
        "    envs.close()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=90, check=True)
    assert "leaked" not in done.stderr and "resource_tracker" not in done.stderr, done.stderr
    names = done.stdout.split()
    assert len(names) == 2 and not any((SHM / name).exists() for name in names)
