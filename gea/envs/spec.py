"""EmbodimentSpec: what an environment looks like to the agent, known without starting it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Domain = Literal["manipulation", "navigation", "game", "ui", "planning"]
DOMAINS: tuple[str, ...] = ("manipulation", "navigation", "game", "ui", "planning")


@dataclass(frozen=True)
class ContinuousActions:
    """A box of real-valued actions (e.g. end-effector deltas and gripper)."""

    dim: int
    low: tuple[float, ...]
    high: tuple[float, ...]
    kind: Literal["continuous"] = "continuous"

    def __post_init__(self) -> None:
        if len(self.low) != self.dim or len(self.high) != self.dim:
            raise ValueError(f"low/high must have {self.dim} entries, got {len(self.low)}/{len(self.high)}")


@dataclass(frozen=True)
class DiscreteActions:
    """A finite set of actions, each named in words ("turn left")."""

    names: tuple[str, ...]
    kind: Literal["discrete"] = "discrete"

    @property
    def n(self) -> int:
        """Number of actions."""
        return len(self.names)


@dataclass(frozen=True)
class TextActions:
    """Actions written in a small grammar, e.g. ``click X Y``, ``type "hi"``, ``key ENTER``."""

    grammar: tuple[str, ...]
    grid: int = 50
    max_length: int = 256
    kind: Literal["text"] = "text"


ActionSpec = ContinuousActions | DiscreteActions | TextActions


@dataclass(frozen=True)
class EmbodimentSpec:
    """Static description of one environment: its domain, actions, observations and prompt text."""

    id: str
    domain: Domain
    action: ActionSpec
    description: str
    simulator: str
    camera: str = "default"
    observation_keys: tuple[str, ...] = ("image", "instruction")
    max_episode_steps: int = 500
    extra: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    install_hint: str | None = None
    """How to install the simulator when ``pip install 'gea[extra]'`` alone is not enough."""

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(f"domain must be one of {DOMAINS}, got {self.domain!r}")

    @property
    def action_kind(self) -> str:
        """``continuous``, ``discrete`` or ``text``."""
        return self.action.kind

    @property
    def has_proprio(self) -> bool:
        """Whether observations carry a ``proprio`` vector."""
        return "proprio" in self.observation_keys
