"""The SFT input pipeline one step ahead: same batches in the same order, checkpoints at the trained position."""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from sft_helpers import expert_datasets, tiny_config

from gea.agents.vision.feature_cache import FeatureCache
from gea.train.checkpoint import latest_checkpoint
from gea.train.sft.prefetch import Prefetcher
from gea.train.sft.trainer import CHECKPOINT_DIR, run_sft


def test_prefetcher_hands_out_results_in_order_with_the_state_before_each() -> None:
    produced = iter(range(100))
    position = {"next": 0}

    def produce() -> int:
        value = next(produced)
        position["next"] = value + 1
        return value

    prefetcher = Prefetcher(produce, lambda: dict(position))
    try:
        assert prefetcher.reader_state() == {"next": 0}
        assert [prefetcher.next() for _ in range(5)] == [0, 1, 2, 3, 4]
        assert prefetcher.reader_state() == {"next": 5}, "the batch prepared ahead is not counted as trained"
        assert prefetcher.next(more=False) == 5
        assert prefetcher.reader_state() == {"next": 6}
    finally:
        prefetcher.close()


def test_prefetcher_reraises_the_producers_error() -> None:
    def produce() -> int:
        raise ValueError("bad window")

    prefetcher = Prefetcher(produce, dict)
    with pytest.raises(ValueError, match="bad window"):
        prefetcher.next()
    prefetcher.close()


def _checkpoints(out_dir: Path) -> dict[int, Path]:
    return {int(path.name.split("_")[1]): path for path in (out_dir / CHECKPOINT_DIR).glob("step_*")}


def test_prefetching_trains_the_same_batches_and_saves_the_trained_position(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    paths = expert_datasets(tmp_path_factory)
    runs = {}
    for prefetch in (False, True):
        config = tiny_config(paths, tmp_path / str(prefetch), save_every=1, keep_checkpoints=0)
        config.data.prefetch = prefetch
        runs[prefetch] = run_sft(config)
    assert runs[True].metrics["loss"] == runs[False].metrics["loss"]
    plain, ahead = _checkpoints(tmp_path / "False"), _checkpoints(tmp_path / "True")
    assert sorted(plain) == sorted(ahead) == [1, 2, 3, 4]
    for step in plain:  # mid-run checkpoints were written while the next batch was being prepared
        assert json.loads((ahead[step] / "trainer.json").read_text()) == json.loads(
            (plain[step] / "trainer.json").read_text()
        )
        expected, got = (
            load_file(str(plain[step] / "model.safetensors")),
            load_file(str(ahead[step] / "model.safetensors")),
        )
        assert all(torch.equal(got[key], tensor) for key, tensor in expected.items()), f"weights differ at step {step}"
    assert latest_checkpoint(tmp_path / "True" / CHECKPOINT_DIR) is not None


def test_feature_cache_stays_consistent_under_two_threads() -> None:
    cache = FeatureCache(max_bytes=40 * 4 * 4)  # room for 40 of the 4x4 float32 entries below
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for round_ in range(300):
                keys = [f"{offset}-{(round_ * 7 + index) % 90}".encode() for index in range(6)]
                found = cache.get(keys)
                missing = [key for key, features in zip(keys, found, strict=True) if features is None]
                if missing:
                    cache.put(missing, torch.zeros(len(missing), 4, 4))
        except BaseException as error:  # any failure in the thread fails the test
            errors.append(error)

    threads = [threading.Thread(target=work, args=(offset,)) for offset in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert cache.bytes == len(cache) * 4 * 4 * 4 <= cache.max_bytes
    copied = copy.deepcopy(cache)  # policies holding a cache are deep-copied (PPO's start policy)
    assert len(copied) == len(cache) and copied.get([next(iter(cache._entries))])[0] is not None
