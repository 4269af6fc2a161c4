"""Shared test setup: headless rendering for every simulator (the defaults gea's adapters apply)."""

from gea.envs.headless import apply_headless_defaults

apply_headless_defaults()
