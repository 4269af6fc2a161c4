"""Small from-scratch actor-critic networks on tensors (MLP on state, Nature or IMPALA CNN on images), for fast PPO.

They mirror stable-baselines3's default ``MlpPolicy`` (separate 64-64 tanh actor and critic MLPs) and
``CnnPolicy`` (shared Nature CNN, 512 features, linear heads) with the same orthogonal initialisation, so
that PPO speed and learning can be compared with SB3 network for network. Inputs are batched tensors:
``proprio`` float (N, D) or ``image`` uint8 (N, H, W, 3); actions are categorical (discrete) or diagonal
Gaussian (continuous). The critic is a plain linear value or a PopArt layer (``gea.agents.value.PopArt``).
``allowed_actions`` restricts a discrete net to some actions (the others get a -1e9 logit offset), e.g. to skip
actions that duplicate others. ``encoder="impala"`` is the residual CNN of IMPALA (Espeholt et al. 2018; channels
16, 32, 32), as used for Procgen (Cobbe et al. 2020), followed by a ``cnn_features``-unit layer like the Nature CNN.
``set_torso_dtype(torch.bfloat16)`` runs the encoder under bf16 autocast (the heads stay float32).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from gea.agents.value import PopArt
from gea.errors import ConfigError

Encoder = Literal["mlp", "cnn", "impala"]
MASKED_LOGIT = -1e9
"""Logit offset of a discrete action outside ``allowed_actions`` (finite, so entropies stay defined)."""


@dataclass(frozen=True)
class SmallNetConfig:
    """Shape of a small actor-critic: input, action space, encoder and critic type."""

    encoder: Encoder
    input_shape: tuple[int, ...]
    action_dim: int
    discrete: bool
    hidden: int = 64
    cnn_features: int = 512
    popart: bool = False
    allowed_actions: tuple[int, ...] | None = None  # discrete: the only actions ever taken (None: all)


def _orthogonal(module: nn.Module, gain: float) -> None:
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            nn.init.orthogonal_(layer.weight, gain=gain)
            nn.init.zeros_(layer.bias)


class TanhMLP(nn.Sequential):
    """Linear layers, each followed by tanh. ``forward`` applies each layer's function directly (the same
    arithmetic as ``nn.Sequential``, without a module call per layer, which costs more than the layer itself on
    the 8-row batches of acting); hooks registered on the layers themselves are therefore not run."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """The last layer's activations."""
        hidden = inputs
        for layer in self._modules.values():
            if isinstance(layer, nn.Linear):
                hidden = F.linear(hidden, layer.weight, layer.bias)
            elif isinstance(layer, nn.Tanh):
                hidden = torch.tanh(hidden)
            else:
                hidden = layer(hidden)
        return hidden


def mlp_torso(inputs: int, hidden: int) -> TanhMLP:
    """Two tanh layers of ``hidden`` units (SB3's default MLP torso)."""
    return TanhMLP(nn.Linear(inputs, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())


def _nature_cnn(input_shape: tuple[int, ...], features: int) -> nn.Sequential:
    height, width, channels = input_shape
    # The same function as SB3's Nature CNN, arranged for speed on CPU: in-place ReLUs (neither a convolution's
    # nor a linear layer's backward needs its own output, which the ReLU overwrites), and the last ReLU after
    # the flatten, so that it runs on the flat (contiguous) features whose gradient comes back contiguous;
    # before the flatten its channels-last input meets a contiguous gradient, a slow strided backward.
    conv = nn.Sequential(
        nn.Conv2d(channels, 32, 8, stride=4),
        nn.ReLU(inplace=True),
        nn.Conv2d(32, 64, 4, stride=2),
        nn.ReLU(inplace=True),
        nn.Conv2d(64, 64, 3, stride=1),
        nn.Flatten(),
        nn.ReLU(inplace=True),
    )
    with torch.no_grad():
        flat = conv(torch.zeros(1, channels, height, width)).shape[-1]
    return nn.Sequential(conv, nn.Linear(flat, features), nn.ReLU(inplace=True))


class _ResidualBlock(nn.Module):
    """x + conv(relu(conv(relu(x)))), 3x3 convolutions keeping the channels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """The block's output."""
        return inputs + self.conv1(F.relu(self.conv0(F.relu(inputs))))


def _impala_cnn(input_shape: tuple[int, ...], features: int, channels: tuple[int, ...] = (16, 32, 32)) -> nn.Sequential:
    height, width, depth = input_shape
    layers: list[nn.Module] = []
    for out in channels:
        layers += [
            nn.Conv2d(depth, out, 3, padding=1),
            nn.MaxPool2d(3, stride=2, padding=1),
            _ResidualBlock(out),
            _ResidualBlock(out),
        ]
        depth = out
    conv = nn.Sequential(*layers, nn.Flatten(), nn.ReLU())
    with torch.no_grad():
        flat = conv(torch.zeros(1, input_shape[-1], height, width)).shape[-1]
    return nn.Sequential(conv, nn.Linear(flat, features), nn.ReLU(inplace=True))


class SmallActorCriticNet(nn.Module):
    """Actor-critic on tensors: ``forward(obs) -> (action logits or Gaussian means, normalized value)``."""

    def __init__(self, config: SmallNetConfig) -> None:
        super().__init__()
        self.config = config
        if config.encoder == "mlp":
            inputs = math.prod(config.input_shape)
            self.actor_body: nn.Module = mlp_torso(inputs, config.hidden)
            self.critic_body: nn.Module | None = mlp_torso(inputs, config.hidden)
            features = config.hidden
        elif config.encoder in ("cnn", "impala"):
            if len(config.input_shape) != 3:
                raise ConfigError(f"encoder={config.encoder} needs images (H, W, C), not shape {config.input_shape}")
            build = _nature_cnn if config.encoder == "cnn" else _impala_cnn
            self.actor_body = build(config.input_shape, config.cnn_features)
            self.critic_body = None  # shared with the actor, as SB3's CnnPolicy
            features = config.cnn_features
        else:
            raise ConfigError(f"encoder must be 'mlp', 'cnn' or 'impala', got {config.encoder!r}")
        self.action_head = nn.Linear(features, config.action_dim)
        bias = None
        if config.allowed_actions is not None:
            if not config.discrete or not set(config.allowed_actions) <= set(range(config.action_dim)):
                raise ConfigError(f"allowed_actions must be discrete action indices, got {config.allowed_actions}")
            bias = torch.full((config.action_dim,), MASKED_LOGIT)
            bias[list(config.allowed_actions)] = 0.0
        self.action_bias: torch.Tensor | None
        self.register_buffer("action_bias", bias, persistent=False)  # derived from the config, not saved
        self.log_std = None if config.discrete else nn.Parameter(torch.zeros(config.action_dim))
        self.popart = PopArt(features) if config.popart else None
        self.value_head = None if config.popart else nn.Linear(features, 1)
        _orthogonal(self, math.sqrt(2))
        _orthogonal(self.action_head, 0.01)
        if self.value_head is not None:
            _orthogonal(self.value_head, 1.0)
        else:
            _orthogonal(self.popart, 1.0)  # type: ignore[arg-type]
        if config.encoder != "mlp":
            # HWC images permuted to NCHW are channels-last in memory already; matching weights avoid copies.
            self.to(memory_format=torch.channels_last)
        self.torso_dtype = torch.float32

    def set_torso_dtype(self, dtype: torch.dtype) -> None:
        """Run the encoder under autocast to ``dtype`` (``torch.bfloat16``: CNN updates ~1.5x faster on CPUs with
        native bf16 and on GPUs) or in float32; the action and value heads always compute in float32."""
        self.torso_dtype = dtype

    def _torso_precision(self, device: torch.device) -> contextlib.AbstractContextManager[object]:
        if self.torso_dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.torso_dtype)

    def preprocess(self, observations: torch.Tensor) -> torch.Tensor:
        """uint8 images (N, H, W, C) -> float (N, C, H, W) in [0, 1]; state -> float (N, D)."""
        if self.config.encoder != "mlp":
            return observations.permute(0, 3, 1, 2).float().div_(255.0)
        return observations.float().flatten(1)

    def forward(self, observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Action logits (discrete) or means (continuous), and the (normalized, with PopArt) value."""
        inputs = self.preprocess(observations)
        with self._torso_precision(inputs.device):
            actor = self.actor_body(inputs)
            critic = actor if self.critic_body is None else self.critic_body(inputs)
        actor, critic = actor.float(), critic.float()
        if self.popart is not None:
            value = self.popart(critic, torch.zeros(len(critic), dtype=torch.long, device=critic.device))
        else:
            value = self.value_head(critic).squeeze(-1)  # type: ignore[misc]
        head = self.action_head(actor)
        return (head if self.action_bias is None else head + self.action_bias), value

    def critic_parameters(self) -> list[nn.Parameter]:
        """The critic's own parameters: its torso (when not shared with the actor) and its value head or PopArt."""
        parts = (self.critic_body, self.value_head, self.popart)
        return [parameter for part in parts if part is not None for parameter in part.parameters()]

    def log_prob_entropy(self, head: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability of ``actions`` and entropy of the action distribution given the head's output."""
        if self.log_std is None:
            log_probs = F.log_softmax(head, dim=-1)
            taken = log_probs.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
            entropy = -(log_probs.exp() * log_probs).sum(-1)
            return taken, entropy
        log_std = self.log_std.expand_as(head)
        z = (actions - head) / log_std.exp()
        log_prob = (-0.5 * z.square() - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        entropy = (0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum(-1)
        return log_prob, entropy

    def sample(self, head: torch.Tensor, greedy: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Sampled (or most likely) actions and their log-probabilities."""
        if self.log_std is None:
            log_probs = F.log_softmax(head, dim=-1)
            if greedy:
                actions = log_probs.argmax(-1)
            else:  # inverse-CDF sampling: one uniform per row, much cheaper than torch.multinomial for small batches
                cumulative = log_probs.exp().cumsum(-1)
                uniform = torch.rand_like(cumulative[:, :1]) * cumulative[:, -1:]
                actions = (cumulative < uniform).sum(-1).clamp(max=head.shape[-1] - 1)
            return actions, log_probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        actions = head if greedy else head + self.log_std.exp() * torch.randn_like(head)
        return actions, self.log_prob_entropy(head, actions)[0]

    def max_entropy(self) -> float:
        """Entropy of the uniform distribution over the allowed actions (discrete) or 1 per dimension (continuous),
        for scaling."""
        if self.log_std is not None:
            return float(self.config.action_dim)
        allowed = self.config.allowed_actions
        return math.log(self.config.action_dim if allowed is None else len(allowed))
