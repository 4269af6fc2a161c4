"""A real ``kill -9`` during ``gea sft``, then ``resume=true``: the final weights equal an uninterrupted run's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from sft_helpers import expert_datasets

from gea.train.checkpoint import latest_checkpoint
from gea.train.sft.trainer import CHECKPOINT_DIR

STEPS = 6


def _command(paths: list[Path], out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gea.cli",
        "sft",
        f"data.paths=[{paths[0]},{paths[1]}]",
        f"steps={STEPS}",
        "batch_size=4",
        "device=cpu",
        "cpu_threads=1",
        "save_every=1",
        "progress=false",
        f"out_dir={out}",
        *extra,
    ]


def _weights(out: Path) -> dict[str, torch.Tensor]:
    checkpoint = latest_checkpoint(out / CHECKPOINT_DIR)
    assert checkpoint is not None and checkpoint.trainer_state["step"] == STEPS
    return load_file(str(checkpoint.path / "model.safetensors"))


@pytest.mark.slow
def test_kill_9_then_resume_matches_an_uninterrupted_run(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    paths = expert_datasets(tmp_path_factory)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(_command(paths, tmp_path / "straight"), env=env, check=True, capture_output=True, timeout=600)
    killed = tmp_path / "killed"
    process = subprocess.Popen(_command(paths, killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while (killed / CHECKPOINT_DIR / "step_000000000002").exists() is False and time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    stopped_at = latest_checkpoint(killed / CHECKPOINT_DIR)
    assert stopped_at is not None and 2 <= stopped_at.trainer_state["step"] < STEPS
    subprocess.run(_command(paths, killed, "resume=true"), env=env, check=True, capture_output=True, timeout=600)
    expected, resumed = _weights(tmp_path / "straight"), _weights(killed)
    for name, tensor in expected.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=1e-5, atol=1e-6, msg=name)
