"""SFT updates on fixed global batches under torchrun, then the same updates in one process (test_sft_distributed).

usage: torchrun --nproc_per_node 2 sft_update_worker.py OUT STRATEGY DATASET...
Every process reads the same windows; in each update rank r of w trains on its share of the global batch
(micro-batches of 4). Rank 0 writes OUT/distributed/{weights.safetensors,norms.json}, then leaves the process
group, trains a fresh trainer alone on the whole global batches and writes OUT/single/.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file

from gea.rollouts.dataset import WindowDataset
from gea.train.distributed import DistributedContext, init_distributed, shutdown_distributed
from gea.train.sft.fsdp_state import FULL
from gea.train.sft.trainer import SFTTrainer

sys.path.insert(0, str(Path(__file__).parent))
from sft_helpers import tiny_config

GLOBAL_BATCH, MICRO_BATCH, UPDATES = 8, 4, 2


def train(out: Path, strategy: str, paths: list[Path], context: DistributedContext) -> None:
    """Run the updates as this process's share and write the weights and gradient norms (rank 0)."""
    trainer = SFTTrainer(tiny_config(paths, out / "run", strategy=strategy, batch_size=MICRO_BATCH), context)
    reader = WindowDataset({str(path): 1.0 for path in paths}, context=3, seed=5, rank=0, world_size=1)
    windows = list(itertools.islice(iter(reader), GLOBAL_BATCH * UPDATES))
    share = GLOBAL_BATCH // context.world_size
    norms = []
    for update in range(UPDATES):
        mine = windows[update * GLOBAL_BATCH + context.rank * share :][:share]
        batches = [trainer.collator(mine[start : start + MICRO_BATCH]) for start in range(0, share, MICRO_BATCH)]
        norms.append(trainer.update(batches))
    if strategy == "fsdp" and context.distributed:
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        weights = get_model_state_dict(trainer.model, options=FULL)
    else:
        weights = trainer.model.state_dict()
    if context.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        save_file(
            {key: value.detach().clone().contiguous() for key, value in weights.items()},
            str(out / "weights.safetensors"),
        )
        (out / "norms.json").write_text(json.dumps(norms))
    if context.distributed:
        dist.barrier()


def main() -> None:
    """Distributed updates, then (rank 0) the single-process reference."""
    out, strategy, paths = Path(sys.argv[1]), sys.argv[2], [Path(arg) for arg in sys.argv[3:]]
    context = init_distributed("cpu")
    train(out / "distributed", strategy, paths, context)
    shutdown_distributed()
    if context.rank == 0:
        train(out / "single", strategy, paths, DistributedContext())


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
