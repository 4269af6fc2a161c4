"""Shared helpers of the side-by-side benchmarks: alternating side order, medians with their spread, the machine's
load average, and results written as Markdown next to a JSON record of what each side did.

Every comparison script imports this module from its own folder (``python benchmarks/NAME.py`` puts
``benchmarks/`` first on ``sys.path``).
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

Side = TypeVar("Side")


def side_order(sides: Sequence[Side], repeat: int) -> list[Side]:
    """The sides in turn order for ``repeat``: as given on even repeats, reversed on odd ones (ABBA interleaving)."""
    return list(sides) if repeat % 2 == 0 else list(reversed(sides))


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, e.g. ``"1.20, 3.40, 5.60"``."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def median_spread(values: Sequence[float], digits: int = 0, suffix: str = "") -> str:
    """``median (min-max)`` of ``values``, each with ``digits`` decimals and thousands separators."""
    form = f"{{:,.{digits}f}}{suffix}"
    low, high = min(values), max(values)
    return f"{form.format(statistics.median(values))} ({form.format(low)}-{form.format(high)})"


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Per-repeat ratios of two sides measured in the same repeat (adjacent in time, so under the same load)."""
    if len(numerators) != len(denominators):
        raise ValueError(f"{len(numerators)} runs on one side, {len(denominators)} on the other")
    return [a / b for a, b in zip(numerators, denominators, strict=True)]


def speed_table(rates: dict[str, list[float]], unit: str, baseline: str = "previous") -> list[str]:
    """Markdown rows, one per side: median ``unit``, min-max, every run, and the ratio of medians to ``baseline``."""
    medians = {side: statistics.median(values) for side, values in rates.items()}
    rows = [f"| side | {unit} (median) | min-max | runs | vs {baseline} |", "|---|---|---|---|---|"]
    for side, values in rates.items():
        ratio = f"{medians[side] / medians[baseline]:.2f}x" if medians.get(baseline) else "-"
        runs = ", ".join(f"{value:.1f}" for value in values)
        rows.append(f"| {side} | {medians[side]:.1f} | {min(values):.1f}-{max(values):.1f} | {runs} | {ratio} |")
    return rows


def write_results(markdown: Path, text: str, record: dict[str, Any]) -> Path:
    """Write the Markdown report and ``<same name>.json`` holding ``record`` (each side's work and speed)."""
    markdown.parent.mkdir(parents=True, exist_ok=True)
    markdown.write_text(text)
    sidecar = markdown.with_suffix(".json")
    sidecar.write_text(json.dumps(record, indent=2, default=_plain) + "\n")
    return sidecar


def _plain(value: Any) -> Any:
    """NumPy numbers as Python numbers, anything else JSON cannot hold (paths) as text."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)
