"""The SFT benchmark's generic-forward peer trains the same objective as gea's ``SFTModel``: same loss, same
gradients on the same batch (it only computes them the general way: full rows, logits at every position)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from sft_helpers import expert_datasets, tiny_config

from gea.train.distributed import DistributedContext
from gea.train.sft.model import sft_forward
from gea.train.sft.trainer import SFTTrainer

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _benchmark_module() -> object:
    sys.path.insert(0, str(BENCHMARKS))  # the script imports its sibling _bench
    spec = importlib.util.spec_from_file_location("sft_benchmark", BENCHMARKS / "sft.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def test_generic_forward_peer_has_gea_sft_loss_and_gradients(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    torch.manual_seed(0)
    trainer = SFTTrainer(tiny_config(expert_datasets(tmp_path_factory), tmp_path), DistributedContext())
    generic = _benchmark_module()._GenericLossModel(trainer.policy.backbone)  # type: ignore[attr-defined]
    parameters = [parameter for parameter in trainer.model.parameters() if parameter.requires_grad]
    for batch in trainer.next_batches():
        output = sft_forward(trainer.model, batch)
        ours = output.loss_sum / output.correct.numel()
        theirs = generic(*batch.model_inputs())["loss"]
        assert generic.tokens[-1] == batch.num_action_tokens == output.correct.numel()
        torch.testing.assert_close(theirs, ours, rtol=1e-5, atol=1e-6)
        for mine, peer in zip(
            torch.autograd.grad(ours, parameters, allow_unused=True),
            torch.autograd.grad(theirs, parameters, allow_unused=True),
            strict=True,
        ):
            assert (mine is None) == (peer is None)
            if mine is not None:
                torch.testing.assert_close(peer, mine, rtol=1e-4, atol=1e-6)
