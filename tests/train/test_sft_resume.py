"""Checkpoints: N steps straight equal N/2 steps, a stop, and a resumed N/2 (weights, optimizer, data position)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from safetensors.torch import load_file
from sft_helpers import expert_datasets, tiny_config

from gea.train.checkpoint import latest_checkpoint
from gea.train.sft.trainer import CHECKPOINT_DIR, run_sft


def _final_weights(out_dir: Path) -> dict[str, torch.Tensor]:
    checkpoint = latest_checkpoint(out_dir / CHECKPOINT_DIR)
    assert checkpoint is not None
    return load_file(str(checkpoint.path / "model.safetensors"))


def test_stop_and_resume_matches_a_straight_run(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    paths = expert_datasets(tmp_path_factory)
    straight = run_sft(tiny_config(paths, tmp_path / "straight"))
    assert straight.step == 4 and straight.policy_dir is not None
    first = run_sft(tiny_config(paths, tmp_path / "split", stop_at=2))
    assert first.step == 2 and first.policy_dir is None
    checkpoint = latest_checkpoint(tmp_path / "split" / CHECKPOINT_DIR)
    assert checkpoint is not None and checkpoint.trainer_state["step"] == 2
    saved = OmegaConf.load(checkpoint.path / "config.yaml")
    assert saved.steps == 4 and saved.stop_at == 2  # the resolved config travels with the checkpoint
    assert json.loads((checkpoint.path / "trainer.json").read_text())["reader"][0]["streams"]
    second = run_sft(tiny_config(paths, tmp_path / "split", resume=True))
    assert second.step == 4
    expected, resumed = _final_weights(tmp_path / "straight"), _final_weights(tmp_path / "split")
    assert set(expected) == set(resumed)
    for name, tensor in expected.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=1e-5, atol=1e-6, msg=name)
    assert second.metrics["loss"] == pytest.approx(straight.metrics["loss"], rel=1e-5)
