"""``gea collect [overrides]``: run experts across tasks and write an episode dataset."""

from __future__ import annotations

from collections.abc import Sequence

from gea.config import load_job_config
from gea.config_help import help_text
from gea.rollouts.collect import CollectConfig, collect

USAGE = "usage: gea collect [key=value ...]"
ABOUT = """Run experts across tasks and write an episode dataset: many episodes per Parquet shard, meta/ (features,
action spaces and image sizes, statistics, checksums) and a README card, atomically; resume=true continues a
killed run without duplicating or losing episodes."""


def main(argv: Sequence[str]) -> int:
    """Entry point of ``gea collect``."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(help_text("collect", CollectConfig, USAGE, ABOUT))
        return 0
    config = load_job_config("collect", CollectConfig, argv)
    result = collect(config)
    meta = result.meta
    print(
        f"dataset: {meta.root} ({meta.num_episodes} episodes, {meta.num_steps} steps, {len(meta.shard_files())} shards)"
    )
    for env_id in result.tasks:
        attempts = result.attempts[env_id]
        if attempts:
            print(f"  {env_id}: expert success {result.successes[env_id]}/{attempts}")
    print(f"this run: {result.steps} steps in {result.seconds:.1f} s ({result.steps_per_second:.0f} steps/s)")
    print(f"card: {meta.root / 'README.md'}")
    return 0
