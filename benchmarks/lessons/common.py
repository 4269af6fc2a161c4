"""Shared helpers of the lesson scripts: run a configured ``gea quickstart`` and read its results."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

from gea.cli import main as gea_main
from gea.errors import ConfigError
from gea.rollouts.metrics import wilson_interval


def quickstart(out_dir: Path, overrides: list[str]) -> dict[str, Any]:
    """Run ``gea quickstart`` into ``out_dir`` with ``overrides`` (resuming finished stages); its results.json."""
    args = ["quickstart", f"out_dir={out_dir}", *overrides]
    print("$ gea " + " ".join(shlex.quote(arg) for arg in args), flush=True)
    if gea_main(args) != 0:
        raise ConfigError(f"gea quickstart failed for {out_dir}")
    return json.loads((out_dir / "eval" / "results.json").read_text())


def share_stage(source: Path, target: Path, stage: str) -> None:
    """Reuse ``source``'s finished stage folder in ``target`` (a symlink; the stage marker travels with it)."""
    link = target / stage
    target.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        os.symlink(source.resolve() / stage, link)


def success(payload: dict[str, Any], agent_suffix: str, env_id: str) -> tuple[int, int]:
    """(successes, episodes) of the agent whose name ends with ``agent_suffix`` on ``env_id``."""
    for row in payload["tasks"]:
        if row["env_id"] == env_id and row["agent"].endswith(agent_suffix):
            return int(row["successes"]), int(row["episodes"])
    raise ConfigError(f"no result for an agent ending in {agent_suffix!r} on {env_id}")


def cell(counts: tuple[int, int]) -> str:
    """``k/n (p% [low-high])`` with the 95% Wilson interval, e.g. ``17/30 (57% [39-73])``."""
    k, n = counts
    low, high = wilson_interval(k, n)
    return f"{k}/{n} ({100 * k / max(n, 1):.0f}% [{100 * low:.0f}-{100 * high:.0f}])"
