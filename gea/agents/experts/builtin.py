"""Imports every built-in expert module so that each registers itself (simulators are imported lazily)."""

from gea.agents.experts import (  # noqa: F401
    babyai_bot,
    maniskill_planner,
    metaworld_scripted,
    miniwob_solver,
    miniworld_oracle,
    procgen_search,
)

# Last: trained experts (shipped, then the user's) replace the search expert of the same game.
from gea.agents.experts import net_expert  # noqa: F401  isort: skip
