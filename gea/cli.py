"""The ``gea`` command: dispatches ``gea <command> ...`` to the module that implements it.

Job commands take Hydra overrides (``gea eval suite=quick episodes=5``); tool commands take flags
(``gea envs show metaworld:reach-v3 --out frame.png``). ``gea <command> --help`` describes each.
Every command takes ``imports=[module,...]``: modules that register environments and experts (``gea.plugins``),
imported before the command runs and in every worker process it starts.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from gea.errors import GEAError
from gea.plugins import IMPORTS_KEY, load_plugins, split_imports

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

OVERRIDE_COMMANDS = frozenset({"collect", "eval", "expert", "ppo", "quickstart", "sft", "tokenizer"})
"""Commands that take Hydra overrides: their saved configs record ``imports`` too."""


def usage() -> str:
    """The top-level help text."""
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: gea <command> [args]", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "Every command takes imports=[module,...]: your modules that register environments and experts."]
    lines += ["Run `gea <command> --help` for the arguments of one command."]
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
    imports, rest = split_imports(rest)
    if imports and name in OVERRIDE_COMMANDS:
        rest.append(f"{IMPORTS_KEY}=[{','.join(imports)}]")
    module = importlib.import_module(COMMANDS[name][0])
    try:
        load_plugins(imports)
        return int(module.main(rest) or 0)
    except GEAError as error:
        print(f"gea {name}: error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into a reader that stopped early (`gea eval --help | head`)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (nothing more may reach the closed pipe at exit)
        return 0


if __name__ == "__main__":
    sys.exit(main())
