"""The GEA prompt: agent description, actions, simulator, camera, instruction, then c observations with actions.

Layout of one prompt (``<img>`` stands for ``visual_tokens`` visual embeddings)::

    You are <description>. Simulator: <simulator>. Camera: <camera>. Available actions: <actions>.
    Instruction: <instruction>.
    Observation: <img> Action: <action tokens> ... Observation: <img> Action:

The action tokens in the history are exactly the ids the policy emitted (or the expert's encoded action).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from gea.envs.registry import spec as env_spec
from gea.spec import ContinuousActions, DiscreteActions, EmbodimentSpec

if TYPE_CHECKING:
    from gea.agents.actions import ActionCodec


@dataclass
class PromptRecord:
    """Everything needed to rebuild one prompt: store it in a rollout buffer and ``evaluate`` it later."""

    env_id: str
    task: int
    header_ids: list[int]
    images: np.ndarray
    past_actions: list[list[int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.past_actions) != len(self.images) - 1:
            raise ValueError(f"{len(self.images)} images need {len(self.images) - 1} past actions")

    @classmethod
    def from_window(
        cls, window: Mapping[str, Any], prompts: PromptBuilder, codec: ActionCodec, task: int = 0
    ) -> tuple[PromptRecord, list[int]]:
        """The prompt of a dataset window (``WindowDataset`` sample) and the token ids of its target action.

        Padding before the episode's start is dropped (as at an episode's first steps while acting); the
        window's earlier actions become the prompt's past actions, encoded as the policy would have emitted
        them. ``task`` is the value head's task index (only the critic reads it).
        """
        spec = env_spec(str(window["embodiment"]))
        keep = np.asarray(window["mask"], bool)
        actions = [action for action, valid in zip(window["actions"], keep, strict=True) if valid]
        encoded = [codec.encode(spec, action) for action in actions]
        header = prompts.header_ids(spec, str(window.get("instruction", "")))
        return cls(spec.id, task, header, np.asarray(window["images"])[keep], encoded[:-1]), encoded[-1]


@dataclass
class PromptTokens:
    """A left-padded batch of prompts: ids (image slots hold the pad id), image-slot mask, attention mask."""

    ids: torch.Tensor
    image_mask: torch.Tensor
    attention_mask: torch.Tensor

    @property
    def position_ids(self) -> torch.Tensor:
        """Positions that ignore left padding."""
        return (self.attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def describe_actions(spec: EmbodimentSpec) -> str:
    """The 'available actions' text of an embodiment."""
    action = spec.action
    if isinstance(action, DiscreteActions):
        return action.summary or ", ".join(action.names)
    if isinstance(action, ContinuousActions):
        low, high = min(action.low), max(action.high)
        return f"{action.dim}-dimensional continuous control with values in [{low:g}, {high:g}]"
    return "; ".join(action.grammar)


def header_text(spec: EmbodimentSpec, instruction: str) -> str:
    """The text that starts every prompt of ``spec``."""
    return (
        f"You are {spec.description}. Simulator: {spec.simulator}. Camera: {spec.camera}. "
        f"Available actions: {describe_actions(spec)}.\nInstruction: {instruction.strip()}."
    )


class PromptBuilder:
    """Tokenizes prompt text once per (env, instruction) and lays out batches of ``PromptRecord``."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, visual_tokens: int) -> None:
        self.tokenizer = tokenizer
        self.visual_tokens = visual_tokens
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else tokenizer.eos_token_id or 0)
        self.observation_ids = self._encode("\nObservation:")
        self.action_ids = self._encode(" Action:")
        self._headers: dict[tuple[str, str], list[int]] = {}

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def header_ids(self, spec: EmbodimentSpec, instruction: str) -> list[int]:
        """Token ids of the prompt header (cached)."""
        key = (spec.id, instruction)
        if key not in self._headers:
            self._headers[key] = self._encode(header_text(spec, instruction))
        return self._headers[key]

    def layout(self, record: PromptRecord, with_header: bool = True) -> tuple[list[int], list[bool]]:
        """Ids and image-slot flags of one prompt (or of its observation window), ending before the action."""
        ids = list(record.header_ids) if with_header else []
        slots = [False] * len(ids)
        count = len(record.images)
        for index in range(count):
            ids += self.observation_ids + [self.pad_id] * self.visual_tokens + self.action_ids
            slots += [False] * len(self.observation_ids) + [True] * self.visual_tokens + [False] * len(self.action_ids)
            if index < count - 1:
                ids += record.past_actions[index]
                slots += [False] * len(record.past_actions[index])
        return ids, slots

    def batch(self, records: Sequence[PromptRecord], device: torch.device, with_header: bool = True) -> PromptTokens:
        """Left-padded ``PromptTokens`` of ``records`` (only their observation windows when not ``with_header``)."""
        layouts = [self.layout(record, with_header) for record in records]
        length = max(len(ids) for ids, _ in layouts)
        ids = torch.full((len(records), length), self.pad_id, dtype=torch.long)
        image_mask = torch.zeros(len(records), length, dtype=torch.bool)
        attention = torch.zeros(len(records), length, dtype=torch.long)
        for row, (row_ids, row_slots) in enumerate(layouts):
            start = length - len(row_ids)
            ids[row, start:] = torch.tensor(row_ids)
            image_mask[row, start:] = torch.tensor(row_slots)
            attention[row, start:] = 1
        return PromptTokens(ids.to(device), image_mask.to(device), attention.to(device))
