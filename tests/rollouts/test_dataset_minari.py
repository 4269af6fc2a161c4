"""Minari interop: import a locally created Minari dataset, export back, and compare."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from gea.rollouts.dataset import WindowDataset, export_minari, import_minari, iter_episodes, verify

minari = pytest.importorskip("minari", reason="Minari interop needs minari (gea[data])")
pytest.importorskip("jax", reason="creating Minari datasets with DataCollector needs minari[create] (jax)")


def test_import_then_export_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    env = minari.DataCollector(gym.make("CartPole-v1"), record_infos=False)
    rng = np.random.default_rng(0)
    for episode in range(4):
        env.reset(seed=episode)
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(int(rng.integers(2)))
            done = terminated or truncated
    source = env.create_dataset("cartpole/random-v0", algorithm_name="random", code_permalink="local test")
    env.close()

    meta = import_minari(
        source, tmp_path / "imported", instruction="balance the pole", action_names=("push left", "push right")
    )
    assert verify(str(meta.root)).ok
    assert meta.num_episodes == 4 and meta.num_steps == source.total_steps
    episodes = list(iter_episodes(meta))
    for original, table in zip(source.iterate_episodes(), episodes):
        rows = table.to_pydict()
        np.testing.assert_allclose(rows["proprio"], original.observations[:-1], rtol=1e-6)
        assert rows["action_index"] == original.actions.tolist()
        assert rows["action_text"][0] in ("push left", "push right")
        assert rows["terminated"] == original.terminations.tolist() and rows["image"][0] is None
    window = next(iter(WindowDataset(meta.root, context=2, loop=False)))
    assert window["images"] is None and window["proprio"].shape == (2, 4)

    exported = export_minari(meta.root, "cartpole/roundtrip-v0")
    assert exported.total_episodes == 4 and exported.total_steps == source.total_steps
    for original, copy in zip(source.iterate_episodes(), exported.iterate_episodes()):
        np.testing.assert_allclose(copy.observations["proprio"][:-1], original.observations[:-1], rtol=1e-6)
        np.testing.assert_array_equal(copy.actions, original.actions)
        np.testing.assert_allclose(copy.rewards, original.rewards)
    reloaded = minari.load_dataset("cartpole/roundtrip-v0")
    assert reloaded.total_episodes == 4
