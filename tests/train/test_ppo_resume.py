"""Checkpoints and resume: kill -9 a training process, resume, and training continues from the checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from gea.config import load_job_config
from gea.train.checkpoint import latest_checkpoint
from gea.train.ppo import PPOConfig, run_ppo

ARGS = ["num_envs=4", "rollout_steps=64", "epochs=1", "minibatches=2", "progress=false", "checkpoint_every=1"]


def test_resume_after_kill_continues_from_the_checkpoint(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "gea.cli", "ppo", *ARGS, "total_steps=10000000", f"out_dir={tmp_path}"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            checkpoint = latest_checkpoint(tmp_path / "checkpoints")
            if checkpoint is not None and checkpoint.trainer_state["update"] >= 2:
                break
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            time.sleep(0.2)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    checkpoint = latest_checkpoint(tmp_path / "checkpoints")
    assert checkpoint is not None
    killed_at = checkpoint.trainer_state["step"]
    assert killed_at >= 512

    config = load_job_config(
        "ppo", PPOConfig, [*ARGS, f"total_steps={killed_at + 512}", f"out_dir={tmp_path}", "resume=true"]
    )
    result = run_ppo(config)
    new_rows = [row for row in result.history if row["step"] > killed_at]
    assert [row["step"] for row in new_rows] == [killed_at + 256, killed_at + 512]
    assert result.global_step == killed_at + 512
    final = latest_checkpoint(tmp_path / "checkpoints")
    assert final is not None and final.trainer_state["step"] == killed_at + 512
    history_steps = [row["step"] for row in json.loads((final.path / "trainer.json").read_text())["history"]]
    assert history_steps == sorted(history_steps) and history_steps[-1] == killed_at + 512


def test_resume_restores_weights_and_optimizer(tmp_path: Path) -> None:
    base = [*ARGS, "total_steps=512", f"out_dir={tmp_path}"]
    run_ppo(load_job_config("ppo", PPOConfig, base))
    checkpoint = latest_checkpoint(tmp_path / "checkpoints")
    assert checkpoint is not None
    from safetensors.torch import load_file

    saved = load_file(str(checkpoint.path / "model.safetensors"))
    optimizer = torch.load(checkpoint.path / "optimizer.pt", weights_only=True)
    assert optimizer["optimizer"]["state"], "Adam moments are saved"
    # Resuming a finished run trains nothing more and leaves the weights as saved.
    result = run_ppo(load_job_config("ppo", PPOConfig, [*base, "resume=true"]))
    assert result.global_step == 512
    again = load_file(str(latest_checkpoint(tmp_path / "checkpoints").path / "model.safetensors"))  # type: ignore[union-attr]
    for name, tensor in saved.items():
        torch.testing.assert_close(again[name], tensor)
