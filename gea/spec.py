"""EmbodimentSpec: what an environment looks like to the agent, known without starting it.

The ground floor of the package: plain dataclasses and constants, importable without any adapter, simulator
or worker code (``gea.tokenizers``, ``gea.agents`` and the dataset layer need only this module).
"""

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
    """A finite set of actions, each named in words ("turn left").

    ``summary`` describes a large set in a few words for prompts (e.g. the templates the names follow); empty,
    prompts list every name. It is presentation only: two sets with the same names are equal.
    """

    names: tuple[str, ...]
    kind: Literal["discrete"] = "discrete"
    summary: str = field(default="", compare=False)

    @property
    def n(self) -> int:
        """Number of actions."""
        return len(self.names)


UI_KEYS: tuple[str, ...] = (
    "ENTER",
    "TAB",
    "BACKSPACE",
    "DELETE",
    "ESCAPE",
    "SPACE",
    "UP",
    "DOWN",
    "LEFT",
    "RIGHT",
    "PAGEUP",
    "PAGEDOWN",
    "HOME",
    "END",
    "CTRL+A",
    "CTRL+C",
    "CTRL+V",
    "CTRL+X",
)
"""Key names a UI embodiment accepts in ``key K`` unless its ``TextActions`` names others."""


@dataclass(frozen=True)
class TextActions:
    """Actions written in a small grammar, e.g. ``click X Y``, ``type "hi"``, ``key ENTER``.

    ``grid``: taps use cells of a ``grid`` x ``grid`` lattice; ``max_length``: most characters of typed text;
    ``keys``: the key names ``key K`` accepts (upper case; the parser, the tokenizer and the adapter all read them
    here).
    """

    grammar: tuple[str, ...]
    grid: int = 50
    max_length: int = 256
    keys: tuple[str, ...] = UI_KEYS
    kind: Literal["text"] = "text"

    def __post_init__(self) -> None:
        if not self.keys or any(not key or key != key.upper() or " " in key for key in self.keys):
            raise ValueError(f"keys must be non-empty upper-case names without spaces, got {self.keys}")
        if len(set(self.keys)) != len(self.keys):
            raise ValueError(f"keys must be distinct, got {self.keys}")


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
