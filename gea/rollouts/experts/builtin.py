"""Imports every built-in expert module so that each registers itself."""

import importlib

_MODULES = ("metaworld_scripted", "babyai_bot", "miniworld_oracle", "miniwob_solver", "sb3_expert")

for _name in _MODULES:
    try:
        importlib.import_module(f"gea.rollouts.experts.{_name}")
    except ModuleNotFoundError as error:  # a module not written yet, or an optional dependency missing
        if error.name != f"gea.rollouts.experts.{_name}":
            raise
