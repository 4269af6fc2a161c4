"""The ``gea`` command: dispatches ``gea <command> ...`` to the module that implements it.

Job commands take Hydra overrides (``gea eval suite=quick episodes=5``); tool commands take flags
(``gea envs show metaworld:reach-v3 --out frame.png``). ``gea <command> --help`` describes each.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from gea.errors import GEAError

# command -> (module exposing ``main(argv) -> int``, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "collect": ("gea.commands.collect", "run experts across tasks and write an episode dataset (Hydra overrides)"),
    "dataset": (
        "gea.commands.dataset",
        "verify, repair, describe or convert an episode dataset (`dataset verify PATH`)",
    ),
    "envs": ("gea.commands.envs", "list environments (`envs list`) or show one (`envs show ID`)"),
    "expert": ("gea.commands.expert", "train RL experts for games (`expert train ENV_ID`), list or convert them"),
    "eval": ("gea.commands.evaluate", "evaluate agents on a suite and write a report (Hydra overrides)"),
    "ppo": ("gea.commands.ppo", "online RL with PPO on vector envs, DD-PPO under torchrun (Hydra overrides)"),
    "quickstart": ("gea.commands.quickstart", "the whole pipeline on the quick suite in minutes on a CPU (overrides)"),
    "report": ("gea.commands.report", "show one results.json or compare two (`report compare A B`)"),
    "sft": ("gea.commands.sft", "supervised fine-tuning of the GEA policy on expert datasets (Hydra overrides)"),
    "tokenizer": ("gea.commands.tokenizer", "train the learned action tokenizer (`tokenizer fit data=PATH ...`)"),
}


def usage() -> str:
    """The top-level help text."""
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: gea <command> [args]", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "Run `gea <command> --help` for the arguments of one command."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gea`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"gea: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    try:
        return int(module.main(rest) or 0)
    except GEAError as error:
        print(f"gea {name}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
