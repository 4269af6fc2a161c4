"""``gea quickstart [overrides]``: collect, tokenizer, SFT, PPO and evaluation on the quick suite in one command."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gea.config import load_job_config

HELP = """usage: gea quickstart [key=value ...]   (Hydra overrides of gea/configs/quickstart.yaml)

Runs the whole pipeline on a 2-core CPU in minutes: expert episodes of the quick suite, the RVQ action
tokenizer, SFT of the tiny GEA policy on all domains, a short PPO stage, and an evaluation of random vs
expert vs SFT vs SFT+PPO with report.md, plots and videos. Outputs go to out_dir in the layout of each
command (data/, tokenizer/, sft/, ppo/, eval/), e.g. `gea eval agents=[gea:OUT/sft/policy]` reuses them;
a rerun skips the stages already finished with the same settings (resume=false redoes everything).

Overrides, e.g.:
  out_dir=outputs/quickstart      where everything is written
  'tasks=[babyai:GoToLocal]'      a subset of the suite's tasks (default: all of suite=quick)
  image_size=32 seed=0            observation size and seed of every stage
  collect.episodes_per_task=12 collect.max_episode_steps=100
  tokenizer.steps=1500
  sft.steps=300 sft.batch_size=16 sft.lr=1e-3 sft.context=1 sft.continuous_tokenizer=rvq|uniform
  'ppo.envs=[babyai:GoToLocal]' ppo.updates=3 ppo.num_envs=4 ppo.rollout_steps=32
  'ppo.overrides=["policy.lora.enabled=false","epochs=4"]'   any further `gea ppo` setting
  suite.name=mine 'suite.tasks=[{env: "babyai:GoToObj", env_kwargs: {view: agent}, demos: 50}]'   your own tasks
  eval.episodes=8 eval.max_steps=100 'eval.agents=[random,expert,sft,sft+ppo]' eval.num_workers=2
"""


def main(argv: Sequence[str]) -> int:
    """Entry point of ``gea quickstart``."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(HELP)
        return 0
    from gea.quickstart import QuickstartConfig, agent_names, banner, run_quickstart, summary_table

    config = load_job_config("quickstart", QuickstartConfig, argv)
    result = run_quickstart(config)
    banner("quickstart: success rate per task and domain")
    labels = agent_names(config)
    print(summary_table(result.payload, labels))
    by_name = {name: label for label, name in labels.items()}
    for entry in result.payload["skipped_tasks"]:  # why a cell shows "-"
        who = "every agent" if entry["agent"] is None else by_name.get(entry["agent"], entry["agent"])
        print(f"  - {entry['env_id']}, {who}: {entry['reason']}")
    timings = ", ".join(f"{stage} {seconds:.0f} s" for stage, seconds in result.seconds.items())
    print(f"\nstage times: {timings}" + (f" (skipped: {', '.join(result.skipped)})" if result.skipped else ""))
    print(f"report: {Path(config.out_dir) / 'eval' / 'report.md'}")
    return 0
