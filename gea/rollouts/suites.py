"""Evaluation suites: which tasks to run, how many episodes, which seeds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gea.schema import option


@dataclass
class SuiteTask:
    """One entry of a suite; an ``optional`` task is skipped (with the reason) when its simulator is missing.

    ``episodes``/``max_steps``: evaluation episodes and their step limit; ``env_kwargs``: options for the env;
    ``demos``: expert episodes ``gea quickstart`` collects for this task (default: its ``collect.episodes_per_task``);
    ``sft_weight``: how often ``gea quickstart``'s SFT samples this task's demonstrations relative to the others.
    """

    env: str = option(help="the env id")
    episodes: int = option(10, "evaluation episodes", minimum=1)
    max_steps: int | None = option(None, "step limit of an episode (null: the env's own)", minimum=1)
    split: str = option("seen", "seen or unseen (held-out) task, for the report", choices=("seen", "unseen"))
    optional: bool = option(False, "skip the task (with the reason) when its simulator is missing")
    env_kwargs: dict[str, Any] = option(factory=dict, help="options for the env")
    demos: int | None = option(None, "expert episodes gea quickstart collects for it", minimum=1)
    sft_weight: float = option(
        1.0, "its sampling weight in gea quickstart's SFT (GEA up-weights some x2-x3)", minimum=0
    )


@dataclass
class SuiteConfig:
    """A named list of tasks (``gea/configs/suite/<name>.yaml``)."""

    name: str = option("custom", "the suite's name in reports")
    tasks: list[SuiteTask] = option(factory=list, help="the tasks")
