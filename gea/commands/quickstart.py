"""``gea quickstart [overrides]``: collect, tokenizer, SFT, PPO and evaluation on the quick suite in one command."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gea.config import load_job_config
from gea.config_help import help_text

USAGE = "usage: gea quickstart [key=value ...]"
ABOUT = """Runs the whole pipeline on a 2-core CPU in minutes: expert episodes of the quick suite, the RVQ action
tokenizer, SFT of the tiny GEA policy on all domains, a short PPO stage, and an evaluation of random vs expert
vs SFT vs SFT+PPO with report.md, plots and videos. Outputs go to out_dir in the layout of each command (data/,
tokenizer/, sft/, ppo/, eval/), e.g. `gea eval agents=[gea:OUT/sft/policy]` reuses them; a rerun skips the
stages already finished with the same settings (resume=false redoes everything). Your own tasks:
suite.name=mine 'suite.tasks=[{env: "babyai:GoToObj", env_kwargs: {view: agent}, demos: 50}]'."""


def main(argv: Sequence[str]) -> int:
    """Entry point of ``gea quickstart``."""
    from gea.quickstart import QuickstartConfig, agent_names, banner, run_quickstart, summary_table

    if any(arg in ("-h", "--help") for arg in argv):
        print(help_text("quickstart", QuickstartConfig, USAGE, ABOUT))
        return 0
    config = load_job_config("quickstart", QuickstartConfig, argv)
    result = run_quickstart(config)
    banner("quickstart: success rate per task and domain")
    print(summary_table(result.payload, agent_names(config)))
    timings = ", ".join(f"{stage} {seconds:.0f} s" for stage, seconds in result.seconds.items())
    print(f"\nstage times: {timings}" + (f" (skipped: {', '.join(result.skipped)})" if result.skipped else ""))
    print(f"report: {Path(config.out_dir) / 'eval' / 'report.md'}")
    return 0
