"""How much a trained GEA policy's SFT loss depends on its images: real vs shuffled vs blank images.

A policy that ignores its images has the same action-token loss whichever images it is shown; one that uses
them loses more when each window gets another window's images.

    python benchmarks/sft_image_reliance.py POLICY_DIR DATASET_DIR [--context 1] [--windows 256]
"""

from __future__ import annotations

import argparse
import itertools

import torch

from gea.agents.policy import GEAPolicy
from gea.rollouts.dataset import WindowDataset
from gea.train.sft.batching import SFTBatch, SFTCollator
from gea.train.sft.model import SFTModel, sft_forward


def mean_loss(model: SFTModel, batch: SFTBatch) -> float:
    """Action-token cross-entropy per labelled token (nats)."""
    with torch.no_grad():
        output = sft_forward(model, batch)
    return float(output.loss_sum) / len(output.correct)


def main() -> None:
    """Print the loss with real, shuffled and blank images."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("policy")
    parser.add_argument("dataset")
    parser.add_argument("--context", type=int, default=1)
    parser.add_argument("--windows", type=int, default=256)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    policy = GEAPolicy.from_pretrained(args.policy)
    windows = WindowDataset({args.dataset: 1.0}, context=args.context, seed=args.seed, rank=0, world_size=1, loop=False)
    batch = SFTCollator(policy.prompts, policy.codec)(list(itertools.islice(iter(windows), args.windows)))
    model = SFTModel(policy.backbone).eval()
    real = mean_loss(model, batch)
    images = batch.images
    batch.images = images[torch.randperm(images.shape[0])]
    shuffled = mean_loss(model, batch)
    batch.images = torch.zeros_like(images)
    blank = mean_loss(model, batch)
    print("| policy | windows | loss, real images | loss, shuffled images | loss, blank images |")
    print("|---|---|---|---|---|")
    print(f"| `{args.policy}` | {images.shape[0]} | {real:.4f} | {shuffled:.4f} | {blank:.4f} |")


if __name__ == "__main__":
    main()
