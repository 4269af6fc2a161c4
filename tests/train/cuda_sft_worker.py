"""SFT under a one-rank NCCL process group on one GPU, through the DDP or FSDP2 code path (test_cuda).

usage: torchrun --standalone --nproc_per_node 1 cuda_sft_worker.py OUT STRATEGY DATASET

NCCL refuses two ranks on one GPU, so on a one-GPU machine this worker joins a one-rank NCCL group (as
``init_distributed`` does under torchrun) and runs the trainer in it: the real DDP / ``fully_shard`` wrapping,
NCCL collectives and (for FSDP) the gathered full-state checkpoints. It trains to step 2 with bf16 autocast and
checkpoints, resumes a fresh trainer from that checkpoint, checks the restored weights equal the trained ones,
trains on to step 3 and exports the policy. It writes OUT/result.json.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from gea.agents.config import PolicyConfig
from gea.agents.policy import GEAPolicy
from gea.train.distributed import DistributedContext
from gea.train.sft.fsdp_state import FULL
from gea.train.sft.trainer import SFTTrainer

sys.path.insert(0, str(Path(__file__).parent))
from sft_helpers import tiny_config


def full_weights(model: nn.Module, strategy: str) -> dict[str, torch.Tensor]:
    """The unsharded weights of the trainer's model, on the CPU."""
    if strategy == "fsdp":
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        return get_model_state_dict(model, options=FULL)
    return {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}


def main() -> None:
    """Train, checkpoint, resume, compare, finish and export; write the findings to OUT/result.json."""
    out, strategy, dataset = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    torch.cuda.set_device(0)
    dist.init_process_group("nccl", device_id=torch.device("cuda", 0))
    context = DistributedContext(rank=0, world_size=1, local_rank=0, device=torch.device("cuda", 0), process_group=True)
    settings = {"strategy": strategy, "device": "cuda", "cpu_threads": 0, "steps": 3, "policy": PolicyConfig(bf16=True)}
    first = SFTTrainer(tiny_config([dataset], out / "run", stop_at=2, **settings), context)
    trained = first.train()
    saved = full_weights(first.model, strategy)
    second = SFTTrainer(tiny_config([dataset], out / "run", resume=True, **settings), context)
    resumed = second.resume()
    resumed_step = second.step
    restored = full_weights(second.model, strategy)
    difference = max(float((restored[name].float() - tensor.float()).abs().max()) for name, tensor in saved.items())
    finished = second.train()
    policy = GEAPolicy.from_pretrained(out / "run" / "policy")
    result = {
        "backend": dist.get_backend(),
        "wrapped": type(first.wrapped).__name__,
        "loss": trained.metrics["loss"],
        "loss_finite": math.isfinite(trained.metrics["loss"]),
        "resumed": resumed,
        "resumed_step": resumed_step,
        "max_restored_difference": difference,
        "same_keys": set(saved) == set(restored),
        "final_step": finished.step,
        "policy_tasks": sorted(policy.codec.tokenizer.routes),
    }
    dist.destroy_process_group()
    (out / "result.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
