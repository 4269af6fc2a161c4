"""The episode dataset's row schema: one Parquet row per environment step.

Columns (every embodiment uses the same schema; unused action columns are null):

- ``episode_index`` int64: episode number, unique within the dataset.
- ``step`` int32: step number within the episode, from 0.
- ``embodiment`` string: the env id the episode came from (``gea.envs.make`` id).
- ``task`` string: the task label (the env id without its family prefix, or a source dataset id).
- ``instruction`` string: the instruction shown to the agent at this step.
- ``image`` binary, nullable: the observation image, encoded (PNG by default; JPEG or WebP optional);
  null only for imported datasets without images.
- ``proprio`` list<float32>, nullable: proprioceptive state, when the env provides it.
- ``action`` list<float32>, nullable: the continuous action (for continuous embodiments).
- ``action_index`` int32, nullable: the discrete action index (for discrete embodiments).
- ``action_text`` string, nullable: the discrete action's name in words, or the UI command in the
  embodiment's grammar (``click 12 30``); null for continuous actions.
- ``reward`` float32, ``terminated`` / ``truncated`` / ``success`` bool: the outcome of taking the action.

Row ``t`` holds observation ``o_t``, the expert's action ``a_t`` at ``o_t`` and what followed it.
The observation after the last action is not stored.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

ROW_SCHEMA = pa.schema(
    [
        pa.field("episode_index", pa.int64(), nullable=False),
        pa.field("step", pa.int32(), nullable=False),
        pa.field("embodiment", pa.string(), nullable=False),
        pa.field("task", pa.string(), nullable=False),
        pa.field("instruction", pa.string(), nullable=False),
        pa.field("image", pa.binary()),
        pa.field("proprio", pa.list_(pa.float32())),
        pa.field("action", pa.list_(pa.float32())),
        pa.field("action_index", pa.int32()),
        pa.field("action_text", pa.string()),
        pa.field("reward", pa.float32(), nullable=False),
        pa.field("terminated", pa.bool_(), nullable=False),
        pa.field("truncated", pa.bool_(), nullable=False),
        pa.field("success", pa.bool_(), nullable=False),
    ],
    metadata={"gea.schema_version": str(SCHEMA_VERSION)},
)

COLUMNS: tuple[str, ...] = tuple(ROW_SCHEMA.names)

COLUMN_DOCS: dict[str, str] = {
    "episode_index": "episode number, unique within the dataset",
    "step": "step number within the episode, from 0",
    "embodiment": "env id the episode came from",
    "task": "task label",
    "instruction": "instruction shown to the agent",
    "image": "observation image, encoded bytes (see meta/info.json image_format); null if absent",
    "proprio": "proprioceptive state (float32 list); null if the env has none",
    "action": "continuous action (float32 list); null for discrete and text actions",
    "action_index": "discrete action index; null for continuous and text actions",
    "action_text": "discrete action name or UI command text; null for continuous actions",
    "reward": "reward received for the action",
    "terminated": "the episode ended in a terminal state after the action",
    "truncated": "the episode was cut by a time limit after the action",
    "success": "the task counted as solved after the action",
}


def features() -> dict[str, object]:
    """The ``meta/features.json`` document: schema version, each column's Arrow type and meaning."""
    return {
        "schema_version": SCHEMA_VERSION,
        "columns": {
            field.name: {"type": str(field.type), "nullable": field.nullable, "description": COLUMN_DOCS[field.name]}
            for field in ROW_SCHEMA
        },
    }
