"""``gea tokenizer fit [hydra overrides]``: train the learned action tokenizer on a dataset."""

from __future__ import annotations

import sys

from gea.config import load_job_config

USAGE = """usage: gea tokenizer fit data=PATH [out=DIR] [tokenizer=rvq_small|rvq_gea] [key=value ...]

Trains the residual VQ-VAE action tokenizer on continuous actions from a .npy/.npz file or a Parquet
episode dataset folder; writes DIR/tokenizer (safetensors + json), DIR/metrics.json (held-out MSE),
DIR/tensorboard and DIR/config.yaml. Keys: see gea/configs/tokenizer_fit.yaml, e.g. train.steps=2000
train.lr=1e-3 train.seed=1 tokenizer.num_quantizers=3 holdout_fraction=0.1 progress=false
imports=[my_envs] (your modules that register envs)."""


def main(argv: list[str]) -> int:
    """Run ``gea tokenizer <subcommand>``."""
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    if argv[0] != "fit":
        print(f"gea tokenizer: unknown subcommand {argv[0]!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    from gea.tokenizers.fit import TokenizerFitConfig, run_fit, summary

    config = load_job_config("tokenizer_fit", TokenizerFitConfig, argv[1:])
    metrics = run_fit(config)
    print(summary(metrics))
    print(f"saved tokenizer to {config.out}/tokenizer")
    return 0
