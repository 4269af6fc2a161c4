"""Score the Procgen search experts (``gea.agents.experts.procgen_search``) against random play.

Each game is played on the held-out seeds ``gea expert train`` evaluates on (its recipe's ``eval_seed`` and
``eval_episodes``, easy mode, full level distribution), by the search expert and by uniformly random play (the
same random agent and seeds as a trained expert's record, so the random columns match ``experts.md``). Results
go to ``benchmarks/results/search_experts.json`` (one record per game, merged with earlier ones);
``benchmarks/experts.py report`` puts them in ``experts.md``.

    python benchmarks/search_experts.py --games procgen:maze procgen:miner [--rollouts N] [--episodes N] ...

``--max-nodes``, ``--patience``, ``--rollouts``, ``--horizon`` and ``--commit`` default to the game's settings in
``SEARCH_GAMES`` (``SearchSettings()`` for other games).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from gea.agents.baselines import RandomAgent
from gea.agents.experts.procgen_search import SEARCH_GAMES, ProcgenSearchExpert, SearchSettings
from gea.files import atomic_write_json
from gea.train.experts import load_expert_config
from gea.train.experts.record import bootstrap_interval, machine, play

RESULTS = Path(__file__).parent / "results" / "search_experts.json"


def score(env_id: str, settings: SearchSettings, episodes: int, progress: bool) -> dict[str, Any]:
    """The search expert's and random play's held-out returns on ``env_id``, with the difference's interval."""
    overrides = [f"progress={str(progress).lower()}"] + ([f"eval_episodes={episodes}"] if episodes else [])
    config = load_expert_config(env_id, overrides)
    started = time.perf_counter()
    searcher = ProcgenSearchExpert(env_id, settings)
    expert = play(config, searcher, config.eval_seed, config.eval_episodes, "search")
    seconds = time.perf_counter() - started
    random = play(config, RandomAgent(config.seed), config.eval_seed, config.eval_episodes, "random")
    return {
        "env_id": env_id,
        "expert_kind": "search",
        "max_nodes": settings.max_nodes,
        "patience": settings.patience,
        "settings": settings._asdict(),
        "evaluation": {
            "act": "search",
            "seeds": [config.eval_seed, config.eval_episodes],
            "expert": expert,
            "random": random,
            "difference": {
                "mean": round(expert["mean"] - random["mean"], 4),
                "ci95": bootstrap_interval(expert["returns"], random["returns"]),
            },
        },
        "expert_wall_seconds": round(seconds, 1),
        "machine": machine(),
    }


def main() -> int:
    """Score the chosen games and merge their records into the results file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--games", nargs="+", default=[f"procgen:{game}" for game in SEARCH_GAMES])
    parser.add_argument("--max-nodes", type=int, default=0, help="simulated steps per search (0: the game's)")
    parser.add_argument(
        "--patience", type=int, default=0, help="failed searches before playing at random (0: the game's)"
    )
    parser.add_argument(
        "--rollouts", type=int, default=0, help="random shooting with this many futures (0: the game's)"
    )
    parser.add_argument("--horizon", type=int, default=0, help="steps per simulated future (0: the game's)")
    parser.add_argument("--commit", type=int, default=0, help="steps played of the best future (0: the game's)")
    parser.add_argument("--episodes", type=int, default=0, help="held-out episodes (0: the recipe's eval_episodes)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    for env_id in args.games:
        game = env_id.removeprefix("procgen:")
        settings = SEARCH_GAMES.get(game, SearchSettings())
        chosen = {
            name: getattr(args, name)
            for name in ("max_nodes", "patience", "rollouts", "horizon", "commit")
            if getattr(args, name)
        }
        settings = settings._replace(**chosen)
        record = score(env_id, settings, args.episodes, not args.no_progress)
        evaluation = record["evaluation"]
        low, high = evaluation["difference"]["ci95"]
        print(
            f"{env_id}: search {evaluation['expert']['mean']:.2f}, random {evaluation['random']['mean']:.2f}, "
            f"difference {evaluation['difference']['mean']:+.2f} [{low:+.2f}, {high:+.2f}] "
            f"({record['expert_wall_seconds']:.0f} s for the search expert's episodes)",
            flush=True,
        )
        records = json.loads(args.out.read_text()) if args.out.is_file() else {}
        records[env_id] = record
        atomic_write_json(args.out, dict(sorted(records.items())), sort_keys=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
