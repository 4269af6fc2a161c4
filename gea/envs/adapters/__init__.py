"""Adapters from each simulator to the platform contract; importing this package registers them all.

The registry imports it on first use (``gea.envs.spec``, ``list_envs``, ``make``), so ``import gea.envs`` stays
free of side effects. Headless rendering defaults are set here, before any adapter can import its simulator.
Adapter modules import their simulator only inside factories, so registering costs nothing and
``gea.envs.spec(id)`` never starts a simulator.
"""

import importlib
from importlib.resources import files
from pathlib import Path

from gea.envs.headless import apply_headless_defaults

apply_headless_defaults()

from gea.envs.adapters import gym_generic

_ADAPTER_MODULES = (
    "metaworld_tasks",
    "babyai_levels",
    "babyai_skills",
    "procgen_games",
    "atari_games",
    "miniwob_tasks",
    "miniworld_tasks",
    "habitat_tasks",
    "maniskill_tasks",
)

for _name in _ADAPTER_MODULES:
    importlib.import_module(f"gea.envs.adapters.{_name}")

gym_generic.register_configs(Path(str(files("gea") / "configs" / "env")))
