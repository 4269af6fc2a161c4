"""``gea envs list`` and ``gea envs show ID``: browse the environment registry."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

import gea.envs
from gea.spec import DOMAINS, ContinuousActions, DiscreteActions, EmbodimentSpec
from gea.table import format_table


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gea envs",
        description="Browse the registered environments.",
        epilog="Add imports=[my_envs] to see the environments your own modules register.",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    listing = sub.add_parser("list", help="table of environment ids")
    listing.add_argument("--domain", choices=DOMAINS, help="only this domain")
    listing.add_argument("--tag", help="only ids carrying this tag (e.g. MT10, ML45-test)")
    listing.add_argument("--contains", help="only ids containing this text")
    listing.add_argument("--installed", action="store_true", help="only environments whose extra is installed")
    show = sub.add_parser("show", help="print one spec and save one rendered frame as PNG")
    show.add_argument("env_id")
    show.add_argument("--out", type=Path, help="PNG path (default: <id>.png in the current folder)")
    show.add_argument("--image-size", type=int, default=128, help="rendered frame size in pixels")
    show.add_argument("--seed", type=int, default=0)
    return parser


def action_summary(spec: EmbodimentSpec) -> str:
    """A short description of an action space, e.g. ``continuous(4)`` or ``discrete(7)``."""
    action = spec.action
    if isinstance(action, ContinuousActions):
        return f"continuous({action.dim})"
    if isinstance(action, DiscreteActions):
        return f"discrete({action.n})"
    return "text"


def list_command(args: argparse.Namespace) -> int:
    """Print the table of environments."""
    rows = []
    for env_id in gea.envs.list_envs(domain=args.domain, contains=args.contains, tag=args.tag):
        spec = gea.envs.spec(env_id)
        installed = gea.envs.is_available(env_id)
        if args.installed and not installed:
            continue
        rows.append([env_id, spec.domain, action_summary(spec), spec.extra or "-", "yes" if installed else "no"])
    print(format_table(["id", "domain", "actions", "extra", "installed"], rows))
    print(f"\n{len(rows)} environments")
    return 0


def show_command(args: argparse.Namespace) -> int:
    """Print one spec and save a rendered first frame."""
    spec = gea.envs.spec(args.env_id)
    print(f"id:           {spec.id}")
    print(f"domain:       {spec.domain}")
    print(f"simulator:    {spec.simulator}")
    print(f"camera:       {spec.camera}")
    print(f"description:  {spec.description}")
    print(f"observations: {', '.join(spec.observation_keys)}")
    print(f"actions:      {action_summary(spec)}")
    if isinstance(spec.action, DiscreteActions):
        for index, name in enumerate(spec.action.names):
            print(f"  {index:>3}  {name}")
    elif isinstance(spec.action, ContinuousActions):
        print(f"  low  {list(spec.action.low)}\n  high {list(spec.action.high)}")
    else:
        print("  grammar: " + " | ".join(spec.action.grammar))
    print(f"max steps:    {spec.max_episode_steps}")
    print(f"extra:        {spec.extra or '-'}  (installed: {'yes' if gea.envs.is_available(spec.id) else 'no'})")
    if spec.tags:
        print(f"tags:         {', '.join(spec.tags)}")
    env = gea.envs.make(args.env_id, image_size=args.image_size)
    try:
        observation, _ = env.reset(seed=args.seed)
    finally:
        env.close()
    print(f"instruction:  {observation['instruction']}")
    out = args.out or Path(spec.id.replace(":", "_").replace("/", "_") + ".png")
    Image.fromarray(np.asarray(observation["image"])).save(out)
    print(f"frame saved:  {out}")
    return 0


def main(argv: Sequence[str]) -> int:
    """Entry point of ``gea envs``."""
    args = _parser().parse_args(list(argv))
    return list_command(args) if args.action == "list" else show_command(args)
