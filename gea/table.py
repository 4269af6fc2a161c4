"""Plain-text and Markdown tables for terminal output and reports."""

from __future__ import annotations

from collections.abc import Sequence


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]], markdown: bool = False) -> str:
    """Align ``rows`` under ``headers``; with ``markdown=True`` produce a GitHub-flavoured table."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(header)] + [len(row[i]) for row in cells]) for i, header in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        padded = [value.ljust(width) for value, width in zip(values, widths)]
        return "| " + " | ".join(padded) + " |" if markdown else "  ".join(padded).rstrip()

    separator = (
        "|" + "|".join("-" * (width + 2) for width in widths) + "|"
        if markdown
        else "  ".join("-" * width for width in widths)
    )
    return "\n".join([line(list(headers)), separator, *(line(row) for row in cells)])
