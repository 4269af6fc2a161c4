"""2-process gloo training (torchrun): updates on a split global batch equal one process on all of it.

Two updates (AdamW is scale-invariant per step, so the gradient norms are compared too), micro-batches of 4:
the single process accumulates two micro-batches per update, each rank runs one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from sft_helpers import expert_datasets

WORKER = Path(__file__).with_name("sft_update_worker.py")


def _load(out: Path) -> tuple[dict[str, torch.Tensor], list[float]]:
    return load_file(str(out / "weights.safetensors")), json.loads((out / "norms.json").read_text())


def _check_two_processes_match_one(strategy: str, out: Path, paths: list[Path]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command = [*launcher, str(WORKER), str(out), strategy, *map(str, paths)]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-4000:]
    single, single_norms = _load(out / "single")
    double, double_norms = _load(out / "distributed")
    assert all(norm > 0 for norm in single_norms)
    assert single_norms == pytest.approx(double_norms, rel=1e-4)  # same gradient scale, not just the same direction
    assert set(single) == set(double)
    for name, tensor in single.items():
        torch.testing.assert_close(double[name], tensor, rtol=1e-4, atol=1e-5, msg=name)


def test_two_gloo_ddp_processes_match_one_process(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    _check_two_processes_match_one("ddp", tmp_path, expert_datasets(tmp_path_factory))


@pytest.mark.slow
def test_two_gloo_fsdp_processes_match_one_process(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    _check_two_processes_match_one("fsdp", tmp_path, expert_datasets(tmp_path_factory))


def _torchrun_sft(paths: list[Path], out: Path, *extra: str) -> None:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "gea.cli"]
    command += ["sft", f"data.paths=[{paths[0]},{paths[1]}]", "steps=3", "batch_size=2", "device=cpu"]
    command += ["cpu_threads=1", "progress=false", "strategy=fsdp", f"out_dir={out}", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-4000:]


@pytest.mark.slow
def test_fsdp_checkpoints_resume_exactly_and_export_a_loadable_policy(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from gea.agents.policy import GEAPolicy
    from gea.train.checkpoint import latest_checkpoint

    paths = expert_datasets(tmp_path_factory)
    _torchrun_sft(paths, tmp_path / "straight")
    _torchrun_sft(paths, tmp_path / "split", "stop_at=2")
    _torchrun_sft(paths, tmp_path / "split", "resume=true")
    finals = []
    for run in ("straight", "split"):
        checkpoint = latest_checkpoint(tmp_path / run / "checkpoints")
        assert checkpoint is not None and checkpoint.trainer_state["step"] == 3
        finals.append(load_file(str(checkpoint.path / "model.safetensors")))
    for name, tensor in finals[0].items():
        torch.testing.assert_close(finals[1][name], tensor, rtol=1e-5, atol=1e-6, msg=name)
    policy = GEAPolicy.from_pretrained(tmp_path / "split" / "policy")
    exported = dict(policy.named_parameters())
    shared = set(exported) & set(finals[1])
    assert len(shared) >= len(exported) - 1  # every weight (a tied output head may be stored under its twin)
    for name in shared:
        torch.testing.assert_close(exported[name].detach(), finals[1][name], msg=name)


@pytest.mark.parametrize(("strategy", "wrapped"), [("fsdp", "FSDPSFTModel"), ("ddp", "DistributedDataParallel")])
def test_one_process_under_torchrun_joins_a_group_and_wraps(
    strategy: str, wrapped: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """``torchrun --nproc_per_node 1 ... strategy=fsdp`` runs the real FSDP2 code on a one-rank gloo group."""
    paths = expert_datasets(tmp_path_factory)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", "-m", "gea.cli"]
    command += ["sft", f"data.paths=[{paths[0]}]", "steps=2", "batch_size=2", "device=cpu", "cpu_threads=1"]
    command += ["progress=false", f"strategy={strategy}", f"out_dir={tmp_path}"]
    completed = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert f"sft: 1 process in a gloo group, this one rank 0 on cpu; model {wrapped}" in completed.stdout
    from gea.train.checkpoint import latest_checkpoint

    checkpoint = latest_checkpoint(tmp_path / "checkpoints")
    assert checkpoint is not None and checkpoint.trainer_state["step"] == 2


def test_a_plain_process_runs_alone(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    paths = expert_datasets(tmp_path_factory)
    command = [sys.executable, "-m", "gea.cli", "sft", f"data.paths=[{paths[0]}]", "steps=1", "batch_size=2"]
    command += ["device=cpu", "cpu_threads=1", "progress=false", "strategy=fsdp", f"out_dir={tmp_path}"]
    completed = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert "sft: a single process on cpu (no process group); model SFTModel" in completed.stdout
