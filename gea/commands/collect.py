"""``gea collect [overrides]``: run experts across tasks and write an episode dataset."""

from __future__ import annotations

from collections.abc import Sequence

from gea.config import load_job_config
from gea.rollouts.collect import CollectConfig, collect

HELP = """usage: gea collect [key=value ...]   (Hydra overrides of gea/configs/collect.yaml)

  envs='[babyai:GoToLocal,metaworld:reach-v3]'   env ids or glob patterns
  suite=MT10                  a registry tag or env family (ids that have an expert)
  episodes_per_task=10        episodes kept per task
  'task_episodes=[{env: miniwob:click-test, episodes: 100}]'   a different count for some tasks
  'task_env_kwargs=[{env: babyai:GoToLocal, view: agent}]'     env options for some tasks only
  num_envs=2                  worker processes (0: run in this process)
  expert=auto                 the registered expert, or package.module:factory
  success_only=false          keep only successful episodes (retries up to max_attempts_factor x)
  action_noise=0.0            noise on executed actions (recorded actions stay the expert's)
  image_size=64 image_format=png   observation size and encoding (png, jpeg, webp, raw: no decoding)
  out=data/expert seed=0      output folder and base seed
  resume=true                 continue an interrupted run without duplicating or losing episodes
"""


def main(argv: Sequence[str]) -> int:
    """Entry point of ``gea collect``."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(HELP)
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
