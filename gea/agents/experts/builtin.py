"""Imports every built-in expert module so that each registers itself (simulators are imported lazily)."""

from gea.agents.experts import (  # noqa: F401
    babyai_bot,
    maniskill_planner,
    metaworld_scripted,
    miniwob_solver,
    miniworld_oracle,
    net_expert,
)
