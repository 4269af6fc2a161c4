"""Evaluation suites: which tasks to run, how many episodes, which seeds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SuiteTask:
    """One entry of a suite; an ``optional`` task is skipped (with the reason) when its simulator is missing.

    ``episodes``/``max_steps``: evaluation episodes and their step limit; ``env_kwargs``: options for the env;
    ``demos``: expert episodes ``gea quickstart`` collects for this task (default: its ``collect.episodes_per_task``).
    """

    env: str
    episodes: int = 10
    max_steps: int | None = None
    split: str = "seen"
    optional: bool = False
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    demos: int | None = None


@dataclass
class SuiteConfig:
    """A named list of tasks (``gea/configs/suite/<name>.yaml``)."""

    name: str = "custom"
    tasks: list[SuiteTask] = field(default_factory=list)
