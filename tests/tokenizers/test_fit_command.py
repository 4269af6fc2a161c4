"""`gea tokenizer fit` on .npz arrays and on a Parquet episode dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tokenizer_fixtures import smooth_actions

from gea.cli import main
from gea.tokenizers import ResidualVQTokenizer, load_tokenizer
from gea.tokenizers.data import load_actions

TINY = [
    "tokenizer.max_dim=8",
    "tokenizer.latent_dim=16",
    "tokenizer.hidden_dim=32",
    "tokenizer.layers=2",
    "tokenizer.codebook_size=16",
    "train.steps=30",
    "train.batch_size=64",
    "progress=false",
]


def test_fit_from_npz_writes_tokenizer_metrics_and_tensorboard(tmp_path: Path) -> None:
    data = tmp_path / "actions.npz"
    np.savez(data, arm=smooth_actions(400, 3).reshape(20, 20, 3), hand=smooth_actions(300, 5, seed=1))
    assert main(["tokenizer", "fit", f"data={data}", f"out={tmp_path / 'run'}", *TINY]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["heldout_mse"] >= 0 and metrics["heldout_actions"]["arm"] == 40  # 2 of 20 episodes
    tokenizer = load_tokenizer(tmp_path / "run" / "tokenizer")
    assert isinstance(tokenizer, ResidualVQTokenizer) and set(tokenizer.embodiments) == {"arm", "hand"}
    assert any((tmp_path / "run" / "tensorboard").iterdir())
    assert (tmp_path / "run" / "config.yaml").is_file()


def test_parquet_dataset_skips_non_continuous_actions(tmp_path: Path) -> None:
    folder = tmp_path / "dataset"
    (folder / "data").mkdir(parents=True)
    actions = smooth_actions(30, 4)
    continuous = pa.table(
        {
            "episode_index": pa.array(np.repeat([0, 1, 2], 10)),
            "embodiment": pa.array(["metaworld:reach-v3"] * 30),
            "action": pa.array(list(actions), type=pa.list_(pa.float32())),
        }
    )
    discrete = pa.table({"episode_index": [3], "embodiment": ["babyai:goto"], "action": pa.array([2], pa.int64())})
    pq.write_table(continuous, folder / "data" / "shard-000.parquet")
    pq.write_table(discrete, folder / "data" / "shard-001.parquet")
    data = load_actions(folder)
    assert list(data.actions) == ["metaworld:reach-v3"]
    np.testing.assert_array_equal(data.actions["metaworld:reach-v3"], actions)
    train, heldout = data.split(0.34, seed=0)
    assert len(heldout["metaworld:reach-v3"]) == 10 and len(train["metaworld:reach-v3"]) == 20


def test_parquet_dataset_of_the_platform_schema_skips_null_actions(tmp_path: Path) -> None:
    """In `gea collect` datasets every row has a list<float> `action`, null for discrete embodiments."""
    folder = tmp_path / "dataset"
    (folder / "data").mkdir(parents=True)
    actions = smooth_actions(10, 4)
    mixed = pa.table(
        {
            "episode_index": pa.array(np.repeat([0, 1], 10)),
            "embodiment": pa.array(["metaworld:reach-v3"] * 10 + ["babyai:GoToLocal"] * 10),
            "action": pa.array([*list(actions), *([None] * 10)], type=pa.list_(pa.float32())),
        }
    )
    pq.write_table(mixed, folder / "data" / "shard-000.parquet")
    data = load_actions(folder)
    assert list(data.actions) == ["metaworld:reach-v3"]
    np.testing.assert_array_equal(data.actions["metaworld:reach-v3"], actions)


def test_bad_override_or_missing_data_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokenizer", "fit", f"data={tmp_path}", "train.stepz=3"]) == 1
    assert "stepz" in capsys.readouterr().err
    assert main(["tokenizer", "fit", f"data={tmp_path / 'missing.npy'}", f"out={tmp_path / 'o'}"]) == 1
    assert "does not exist" in capsys.readouterr().err
