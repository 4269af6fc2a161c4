"""``gea sft [overrides]``: supervised fine-tuning of the GEA policy on expert episode datasets."""

from __future__ import annotations

from collections.abc import Sequence

from gea.config import load_job_config

HELP = """usage: gea sft [key=value ...]
       torchrun --nproc_per_node N -m gea.cli sft [key=value ...]

Fine-tunes the GEA policy on expert windows (the last c observations and actions, the instruction, the target
action) with loss on the action tokens only. Writes out_dir/config.yaml, out_dir/tensorboard/,
out_dir/checkpoints/step_*/ (model safetensors, optimizer, scheduler, RNG states, reader position, config)
and, at the end, out_dir/policy/ (GEAPolicy.save_pretrained; evaluate it with `gea eval agents=[gea:DIR]`).

Overrides (Hydra syntax), e.g.:
  data.paths=[data/metaworld,data/babyai] data.weights=[1,2]   datasets and their mixture weights
  'data.embodiment_weights=["babyai:GoTo=3"]'                   up-weight one embodiment (env id)
  policy.model=tiny | /path/to/llava-onevision-0.5b          the MLLM (local folder or hub id)
  action_tokenizer=runs/tokenizer/tokenizer                  a fitted RVQ for continuous actions
  policy.lora.enabled=true policy.bf16=true policy.gradient_checkpointing=true
  steps=2000 batch_size=8 grad_accum=4 optim.lr=1e-4 optim.warmup_fraction=0.1 optim.grad_clip=1.0
  strategy=ddp|fsdp device=auto out_dir=runs/sft save_every=500 resume=true stop_at=0
  eval.every=200 'eval.envs=[babyai:GoToRedBallNoDists]' eval.episodes=2
  imports=[my_envs]           your modules that register envs/experts
"""


def main(argv: Sequence[str]) -> int:
    """Entry point of ``gea sft``."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(HELP)
        return 0
    from gea.train.sft.config import SFTConfig
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
