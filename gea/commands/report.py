"""``gea report show A`` and ``gea report compare A B``: read evaluation results."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from gea.rollouts.report import compare_table, load_results, text_report


def main(argv: Sequence[str]) -> int:
    """Entry point of ``gea report``."""
    parser = argparse.ArgumentParser(prog="gea report", description="Read results.json files of `gea eval`.")
    sub = parser.add_subparsers(dest="action", required=True)
    show = sub.add_parser("show", help="print the tables of one results.json (or its folder)")
    show.add_argument("results", type=Path)
    compare = sub.add_parser("compare", help="success rate per task and agent in A and B, with B-A")
    compare.add_argument("first", type=Path, metavar="A")
    compare.add_argument("second", type=Path, metavar="B")
    parser_args = parser.parse_args(list(argv))
    if parser_args.action == "show":
        print(text_report(load_results(parser_args.results)))
    else:
        print(compare_table(load_results(parser_args.first), load_results(parser_args.second)))
    return 0
