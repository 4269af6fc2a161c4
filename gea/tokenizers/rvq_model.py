"""The residual VQ-VAE network: MLP encoder, ``vector_quantize_pytorch.ResidualVQ``, MLP decoder."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import nn
from vector_quantize_pytorch import ResidualVQ

from gea.schema import option


@dataclass
class RVQConfig:
    """Shape of the residual VQ-VAE. The defaults are a small CPU model; ``gea_rvq_config()`` is GEA's."""

    max_dim: int = option(21, "actions are zero-padded to this many dimensions", minimum=1)
    latent_dim: int = option(64, "width of the quantized latent", minimum=1)
    hidden_dim: int = option(256, "hidden width of the encoder and decoder MLPs", minimum=1)
    layers: int = option(3, "layers of the encoder and decoder MLPs", minimum=1)
    num_quantizers: int = option(2, "codebooks, i.e. tokens per action", minimum=1)
    codebook_size: int = option(512, "codes per codebook", minimum=2)
    commitment_weight: float = option(1.0, "weight of the commitment loss", minimum=0)
    ema_decay: float = option(0.95, "EMA decay of the codebooks", minimum=0)
    kmeans_init: bool = option(True, "initialise codebooks by k-means on the first batch")
    dead_code_threshold: float = option(1.0, "codes whose EMA usage falls below this are re-seeded", minimum=0)
    normalize_quantile: float = option(
        0.0, "actions are scaled by their q and 1 - q quantiles per dimension (0: min and max)", minimum=0
    )


def gea_rvq_config() -> RVQConfig:
    """GEA's tokenizer: 2 codebooks x 512 codes, latent 1024, 4-layer MLPs with 4096 hidden units."""
    return RVQConfig(latent_dim=1024, hidden_dim=4096, layers=4, num_quantizers=2, codebook_size=512)


def mlp(in_dim: int, hidden_dim: int, out_dim: int, layers: int) -> nn.Sequential:
    """``layers`` linear layers with GELU between them."""
    widths = [in_dim] + [hidden_dim] * (layers - 1) + [out_dim]
    modules: list[nn.Module] = []
    for index, (a, b) in enumerate(itertools.pairwise(widths)):
        modules.append(nn.Linear(a, b))
        if index < layers - 1:
            modules.append(nn.GELU())
    return nn.Sequential(*modules)


class ResidualVQAutoencoder(nn.Module):
    """Padded normalized action (B, max_dim) -> latent -> residual codes (B, num_quantizers) -> action."""

    def __init__(self, config: RVQConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = mlp(config.max_dim, config.hidden_dim, config.latent_dim, config.layers)
        self.decoder = mlp(config.latent_dim, config.hidden_dim, config.max_dim, config.layers)
        self.quantizer = ResidualVQ(
            dim=config.latent_dim,
            num_quantizers=config.num_quantizers,
            codebook_size=config.codebook_size,
            commitment_weight=config.commitment_weight,
            decay=config.ema_decay,
            kmeans_init=config.kmeans_init,
            kmeans_iters=10,
            threshold_ema_dead_code=config.dead_code_threshold,
        )

    def forward(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction (B, max_dim), code indices (B, Q) and the summed commitment loss."""
        quantized, indices, commitment = self.quantizer(self.encoder(actions)[:, None, :])
        return self.decoder(quantized[:, 0]), indices[:, 0], commitment.sum()

    @torch.no_grad()
    def encode(self, actions: torch.Tensor) -> torch.Tensor:
        """Code indices (B, Q) of padded normalized actions."""
        _, indices, _ = self.quantizer(self.encoder(actions)[:, None, :])
        return indices[:, 0]

    @torch.no_grad()
    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """Padded normalized actions (B, max_dim) of valid code indices (B, Q)."""
        latent = self.quantizer.get_output_from_indices(indices[:, None, :])
        return self.decoder(latent[:, 0])

    @torch.no_grad()
    def smallest_codes(self) -> torch.Tensor:
        """Per codebook, the index of the code with the smallest norm (the decode fallback)."""
        codebooks = self.quantizer.codebooks  # (Q, K, latent)
        return codebooks.norm(dim=-1).argmin(dim=-1)
