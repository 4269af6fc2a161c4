"""``gea sft [overrides]``: supervised fine-tuning of the GEA policy on expert episode datasets."""

from __future__ import annotations

from collections.abc import Sequence

from gea.config import load_job_config
from gea.config_help import help_text

USAGE = """usage: gea sft [key=value ...]
       torchrun --nproc_per_node N -m gea.cli sft [key=value ...]"""
ABOUT = """Fine-tunes the GEA policy on expert windows (the last c observations and actions, the instruction, the target
action) with loss on the action tokens only. Writes out_dir/config.yaml, out_dir/tensorboard/,
out_dir/checkpoints/step_*/ (model safetensors, optimizer, scheduler, RNG states, reader position, config)
and, at the end, out_dir/policy/ (GEAPolicy.save_pretrained; evaluate it with `gea eval agents=[gea:DIR]`)."""


def main(argv: Sequence[str]) -> int:
    """Entry point of ``gea sft``."""
    from gea.train.sft.config import SFTConfig

    if any(arg in ("-h", "--help") for arg in argv):
        print(help_text("sft", SFTConfig, USAGE, ABOUT))
        return 0
    from gea.train.sft.trainer import run_sft

    config = load_job_config("sft", SFTConfig, argv)
    result = run_sft(config)
    if not result.is_main:
        return 0
    metrics = " ".join(f"{key}={value:.4g}" for key, value in sorted(result.metrics.items()))
    print(f"sft: step {result.step}/{config.steps} {metrics}")
    if result.policy_dir is not None:
        print(f"policy: {result.policy_dir}")
    return 0
