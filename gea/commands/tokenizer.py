"""``gea tokenizer fit [hydra overrides]``: train the learned action tokenizer on a dataset."""

from __future__ import annotations

import sys

from gea.config import load_job_config
from gea.config_help import help_text

USAGE = "usage: gea tokenizer fit data=PATH [out=DIR] [tokenizer=rvq_small|rvq_gea] [key=value ...]"
ABOUT = """Trains the residual VQ-VAE action tokenizer on continuous actions from a .npy/.npz file or a Parquet
episode dataset folder; writes DIR/tokenizer (safetensors + json), DIR/metrics.json (held-out MSE),
DIR/tensorboard and DIR/config.yaml."""


def full_help() -> str:
    """``gea tokenizer fit --help``: usage and every option of the schema."""
    from gea.tokenizers.fit import TokenizerFitConfig

    return help_text("tokenizer_fit", TokenizerFitConfig, USAGE, ABOUT)


def main(argv: list[str]) -> int:
    """Run ``gea tokenizer <subcommand>``."""
    if not argv or argv[0] in ("-h", "--help", "help") or any(arg in ("-h", "--help") for arg in argv):
        print(full_help())
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
