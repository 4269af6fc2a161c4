"""Stage 1: supervised fine-tuning of the GEA policy on expert episodes, across embodiments, under torchrun.

``run_sft(SFTConfig(...))`` (or ``gea sft key=value ...``) trains with loss on action tokens only, AdamW with a
cosine schedule, gradient accumulation and clipping, DDP or FSDP, resumable checkpoints and TensorBoard.
"""

from gea.train.sft.batching import SFTBatch, SFTCollator
from gea.train.sft.config import DataConfig, EvalDuringTraining, OptimConfig, SFTConfig
from gea.train.sft.model import SFTModel, SFTOutput, sft_forward
from gea.train.sft.trainer import SFTResult, SFTTrainer, run_sft

__all__ = [
    "DataConfig",
    "EvalDuringTraining",
    "OptimConfig",
    "SFTBatch",
    "SFTCollator",
    "SFTConfig",
    "SFTModel",
    "SFTOutput",
    "SFTResult",
    "SFTTrainer",
    "run_sft",
    "sft_forward",
]
