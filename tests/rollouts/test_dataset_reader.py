"""Training reader: windows, determinism, resumption, rank/worker sharding and mixture weights."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest
from torch.utils.data import DataLoader

from gea.envs.spec import ContinuousActions, DiscreteActions
from gea.rollouts.dataset import DatasetMeta, DatasetWriter, EpisodeBuilder, WindowDataset, action_document
from gea.rollouts.dataset.meta import read_episode_index
from gea.rollouts.dataset.reader import _units_by_embodiment

ARM = ContinuousActions(2, (-1.0, -1.0), (1.0, 1.0))
GRID = DiscreteActions(("left", "right", "forward"))


def _write(root: Path, episodes: dict[str, int], length: int = 6) -> Path:
    """A dataset whose pixel value and action encode (episode, step), so windows can be checked."""
    writer = DatasetWriter(root, shard_max_rows=30, row_group_rows=12)
    specs = {"test:arm": ARM, "test:grid": GRID}
    for embodiment in episodes:
        writer.add_embodiment(embodiment, {"domain": "game", "action": action_document(specs[embodiment])})
    number = 0
    for embodiment, count in episodes.items():
        for _ in range(count):
            builder = EpisodeBuilder(embodiment, "t", specs[embodiment], seed=number, attempt=number)
            for step in range(length):
                image = np.full((8, 8, 3), 10 * number + step, np.uint8)
                action = [number / 100, step / 10] if embodiment == "test:arm" else (number + step) % 3
                builder.add_step({"image": image, "instruction": f"episode {number}"}, action, 0.0, False, False, False)
            writer.add_episode(builder.episode)
            number += 1
    writer.close()
    return root


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(tmp_path_factory.mktemp("reader") / "d", {"test:arm": 8, "test:grid": 8})


def _key(sample: dict) -> tuple[int, int]:
    return sample["episode_index"], sample["step"]


def test_windows_hold_the_last_context_steps(dataset: Path) -> None:
    for sample in WindowDataset(dataset, context=3, loop=False):
        episode, step = _key(sample)
        mask = sample["mask"]
        assert mask.tolist() == [step >= 2, step >= 1, True]
        images = sample["images"]
        assert images.shape == (3, 8, 8, 3)
        for position in range(3):
            expected = 10 * episode + step - 2 + position if mask[position] else 0
            assert images[position, 0, 0, 0] == expected
        assert sample["instruction"] == f"episode {episode}"
        if sample["embodiment"] == "test:arm":
            np.testing.assert_allclose(sample["target_action"], [episode / 100, step / 10], atol=1e-6)
            assert sample["actions"].shape == (3, 2)
        else:
            assert sample["target_action"] == (episode + step) % 3
            assert sample["action_text"][-1] == GRID.names[(episode + step) % 3]
            assert (sample["actions"][~mask] == -1).all()


def test_one_pass_covers_every_step_once_and_ranks_partition(dataset: Path) -> None:
    everything = [_key(s) for s in WindowDataset(dataset, loop=False, decode_images=False)]
    assert len(everything) == len(set(everything)) == 16 * 6
    parts = [{_key(s) for s in WindowDataset(dataset, loop=False, rank=r, world_size=2)} for r in range(2)]
    assert not parts[0] & parts[1] and parts[0] | parts[1] == set(everything)
    loader = DataLoader(WindowDataset(dataset, loop=False, decode_images=False), num_workers=2, collate_fn=list)
    from_workers = [_key(s) for batch in loader for s in batch]
    assert sorted(from_workers) == sorted(everything)


def test_deterministic_for_a_seed(dataset: Path) -> None:
    def first(seed: int) -> list[tuple[int, int]]:
        return [_key(s) for s in itertools.islice(WindowDataset(dataset, seed=seed, decode_images=False), 150)]

    assert first(3) == first(3)
    assert first(3) != first(4)


def test_resume_from_state_dict(dataset: Path) -> None:
    reader = WindowDataset(dataset, seed=5, decode_images=False)
    stream = iter(reader)
    head = [_key(next(stream)) for _ in range(70)]
    state = reader.state_dict()
    expected = [_key(next(stream)) for _ in range(60)]
    resumed = WindowDataset(dataset, seed=5, decode_images=False)
    resumed.load_state_dict(state)
    assert [_key(s) for s in itertools.islice(resumed, 60)] == expected
    assert head[:5] != expected[:5]


def test_mixture_weights(dataset: Path, tmp_path: Path) -> None:
    reader = WindowDataset(dataset, embodiment_weights={"test:arm": 3.0}, decode_images=False, seed=1)
    assert reader.stream_weights == pytest.approx({"0:test:arm": 0.75, "0:test:grid": 0.25})
    names = [s["embodiment"] for s in itertools.islice(reader, 800)]
    assert names.count("test:arm") / len(names) == pytest.approx(0.75, abs=0.05)
    other = _write(tmp_path / "other", {"test:grid": 2})
    mixed = WindowDataset({dataset: 1.0, other: 1.0}, decode_images=False, seed=1)
    # Three equal streams: the second dataset's grid episodes (indices 0-1 there, 8-15 in the first).
    from_other = [s["embodiment"] == "test:grid" and s["episode_index"] < 2 for s in itertools.islice(mixed, 600)]
    assert len(mixed.stream_weights) == 3
    assert np.mean(from_other) == pytest.approx(1 / 3, abs=0.06)


def test_row_group_index_matches_the_episode_table(dataset: Path) -> None:
    meta = DatasetMeta.load(dataset)
    units = _units_by_embodiment(dataset, read_episode_index(dataset))
    assert sorted(units) == ["test:arm", "test:grid"]
    for embodiment, found in units.items():
        episodes = meta.episodes.filter(pc.equal(meta.episodes["embodiment"], embodiment)).to_pylist()
        expected: dict[tuple[str, int], int] = {}
        for row in episodes:
            expected[(row["shard"], row["row_group"])] = (
                expected.get((row["shard"], row["row_group"]), 0) + row["length"]
            )
        got = {
            (found.shard_names[shard], int(group)): int(windows)
            for shard, group, windows in zip(found.shard, found.row_group, found.windows)
        }
        assert got == expected
        order = [(found.shard_names[shard], int(group)) for shard, group in zip(found.shard, found.row_group)]
        assert order == sorted(order)
        assert all(found.path(unit).exists() for unit in range(len(found)))
