"""``gea quickstart``: the whole pipeline at CPU scale, one stage after another, resumable.

Stages and where they write (the layout of each stage's own command, so the outputs are reusable):

    <out_dir>/data        gea collect            expert episodes of the suite's tasks
    <out_dir>/tokenizer   gea tokenizer fit      RVQ on the continuous actions (tokenizer/ inside)
    <out_dir>/sft         gea sft                the GEA policy trained on all domains (policy/ inside)
    <out_dir>/ppo         gea ppo                PPO from the SFT policy on a task or two (policy/ inside)
    <out_dir>/eval        gea eval               random vs expert vs SFT vs SFT+PPO: report.md, plots, videos

Each finished stage leaves ``.quickstart.json`` (the settings it ran with) in its folder; a rerun with
``resume=true`` skips a stage whose marker matches its current settings.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gea.config import apply_overrides, load_job_config, save_config
from gea.errors import ConfigError
from gea.files import atomic_write_json
from gea.plugins import load_plugins
from gea.rollouts.suites import SuiteConfig, SuiteTask
from gea.schema import option
from gea.table import format_table

MARKER = ".quickstart.json"
STAGES = ("collect", "tokenizer", "sft", "ppo", "eval")
AGENT_LABELS = ("random", "expert", "sft", "sft+ppo")


@dataclass
class CollectSection:
    """Expert data: episodes per task, step cap, worker processes."""

    episodes_per_task: int = option(48, "expert episodes per task (a suite task's demos sets its own)", minimum=1)
    max_episode_steps: int = option(100, "step limit of an expert episode", minimum=1)
    num_envs: int = option(2, "collection worker processes (0: in this process)", minimum=0)


@dataclass
class TokenizerSection:
    """RVQ fitting steps (architecture: ``gea/configs/tokenizer/rvq_small.yaml``)."""

    steps: int = option(1000, "RVQ training steps", minimum=1)


@dataclass
class SFTSection:
    """SFT of the tiny policy on all collected domains at once."""

    steps: int = option(6000, "optimizer steps", minimum=1)
    batch_size: int = option(16, "windows per step", minimum=1)
    lr: float = option(1e-3, "peak learning rate", minimum=0)
    context: int = option(1, "observations in the prompt", minimum=1)
    visual_tokens: int = option(16, "visual tokens per observation", minimum=1)
    vision: str = option(
        "auto",
        "vision tower: auto (the pretrained EfficientNet-Lite0, frozen) or siglip (random init, trained)",
        choices=("auto", "siglip", "efficientnet_lite0"),
    )
    continuous_tokenizer: str = option(
        "uniform",
        "continuous actions as uniform bins (256 a dimension) or rvq (GEA's residual VQ, fitted in stage 2; at the "
        "quickstart's few thousand steps its codes stay near chance, benchmarks/results/learning.md)",
        choices=("rvq", "uniform"),
    )


@dataclass
class PPOSection:
    """A short PPO stage (GEA recipe: LoRA, joint SFT term) from the SFT policy on ``envs``.

    ``algo=success_sft`` fine-tunes on the policy's own successful rollouts instead (same rollout budget).
    ``overrides``: further ``gea ppo`` settings, applied last, e.g.
    ``'ppo.overrides=["policy.lora.enabled=false","epochs=4"]'``.
    """

    algo: str = option("ppo", "ppo, or success_sft (the same rollout budget)", choices=("ppo", "success_sft"))
    # Hallway: within a CPU budget PPO lifts it (84% -> 96%); GoToLocal's memoryless search it does not move
    # (benchmarks/results/quickstart.md)
    envs: list[str] = option(factory=lambda: ["miniworld:Hallway"], help="the suite tasks PPO trains on")
    num_envs: int = option(8, "envs stepped together", minimum=1)
    rollout_steps: int = option(64, "steps per env per rollout", minimum=1)
    updates: int = option(60, "rollouts (and updates)", minimum=1)
    lr: float = option(3e-4, "learning rate (GEA's)", minimum=0)
    overrides: list[str] = option(
        factory=list, help="further gea ppo settings, applied last, e.g. 'ppo.overrides=[\"epochs=4\"]'"
    )


@dataclass
class EvalSection:
    """Evaluation of ``agents`` (labels out of random, expert, sft, sft+ppo) on the suite's tasks.

    ``sample=true`` evaluates the GEA policies with sampled actions (``gea-sample:``), false with argmax (``gea:``).
    """

    agents: list[str] = option(factory=lambda: list(AGENT_LABELS), help=f"labels out of {', '.join(AGENT_LABELS)}")
    episodes: int = option(10, "episodes per task", minimum=1)
    max_steps: int | None = option(
        None, "caps every task's step limit (null: each suite task's own, else its env's)", minimum=1
    )
    videos_per_task: int = option(1, "mp4 videos per task and agent", minimum=0)
    num_workers: int = option(2, "tasks evaluated in parallel processes", minimum=1)
    sample: bool = option(True, "GEA policies act with sampled actions (gea-sample:), false: argmax (gea:)")


@dataclass
class QuickstartConfig:
    """Schema of ``gea quickstart``: the suite, the shared settings and one section per stage."""

    suite: SuiteConfig = option(factory=SuiteConfig, help="the tasks: suite=NAME picks a file, suite.tasks your own")
    out_dir: str = option("outputs/quickstart", "where every stage writes (data/, tokenizer/, sft/, ppo/, eval/)")
    tasks: list[str] = option(factory=list, help="a subset of the suite's env ids (empty: all)")
    image_size: int = option(32, "observation size of every stage", minimum=1)
    seed: int = option(0, "seed of every stage")
    threads: int = option(1, "torch threads of SFT and PPO (0: torch's default)", minimum=0)
    resume: bool = option(True, "skip the stages already finished with the same settings")
    progress: bool = option(True, "show progress bars")
    collect: CollectSection = option(factory=CollectSection, help="stage 1: expert episodes")
    tokenizer: TokenizerSection = option(factory=TokenizerSection, help="stage 2: the RVQ action tokenizer")
    sft: SFTSection = option(factory=SFTSection, help="stage 3: SFT of the tiny GEA policy on all domains")
    ppo: PPOSection = option(factory=PPOSection, help="stage 4: PPO from the SFT policy")
    eval: EvalSection = option(factory=EvalSection, help="stage 5: random vs expert vs SFT vs SFT+PPO")
    imports: list[str] = option(
        factory=list, help="your modules that register envs and experts (workers import them too)"
    )

    def selected_tasks(self) -> list[SuiteTask]:
        """The suite's tasks, restricted to ``tasks`` when given (an unknown id is an error)."""
        known = [task.env for task in self.suite.tasks]
        unknown = [env_id for env_id in self.tasks if env_id not in known]
        if unknown:
            raise ConfigError(f"tasks {unknown} are not in suite {self.suite.name!r}; choose from {known}")
        return [task for task in self.suite.tasks if not self.tasks or task.env in self.tasks]


@dataclass
class QuickstartResult:
    """Seconds per stage (0 for a skipped one) and the evaluation payload (``results.json``)."""

    seconds: dict[str, float]
    skipped: list[str]
    payload: dict[str, Any]


def stage_dir(config: QuickstartConfig, stage: str) -> Path:
    """The folder a stage writes into."""
    return Path(config.out_dir) / ("data" if stage == "collect" else stage)


def agent_names(config: QuickstartConfig) -> dict[str, str]:
    """``{label: gea eval agent name}`` for the configured agent labels."""
    prefix = "gea-sample" if config.eval.sample else "gea"
    names = {
        "random": "random",
        "expert": "expert",
        "sft": f"{prefix}:{stage_dir(config, 'sft') / 'policy'}",
        "sft+ppo": f"{prefix}:{stage_dir(config, 'ppo') / 'policy'}",
    }
    unknown = [label for label in config.eval.agents if label not in names]
    if unknown:
        raise ConfigError(f"eval.agents {unknown} unknown; choose from {list(names)}")
    return {label: names[label] for label in config.eval.agents}


def banner(text: str) -> None:
    """A visible stage header."""
    line = "=" * max(60, len(text) + 4)
    print(f"\n{line}\n  {text}\n{line}", flush=True)


# ------------------------------------------------------------------------------------------------ stages
# Each stage's config is its command's schema object, built from the quickstart settings: the defaults of the
# command hold for everything not set here, and ``gea <command>`` with the same values would do the same work.
def collect_config(config: QuickstartConfig) -> Any:
    """The ``gea collect`` config of the expert data (every selected task, its own options and demo count)."""
    from gea.rollouts.collect import CollectConfig

    tasks = config.selected_tasks()
    return CollectConfig(
        envs=[task.env for task in tasks],
        episodes_per_task=config.collect.episodes_per_task,
        max_episode_steps=config.collect.max_episode_steps,
        num_envs=config.collect.num_envs,
        image_size=config.image_size,
        task_env_kwargs=[{"env": task.env, **task.env_kwargs} for task in tasks],
        task_episodes=[{"env": task.env, "episodes": task.demos} for task in tasks if task.demos is not None],
        out=str(stage_dir(config, "collect")),
        seed=config.seed,
        resume=True,
        progress=config.progress,
    )


def run_collect(config: QuickstartConfig) -> dict[str, Any]:
    """Expert episodes of every selected task into ``<out_dir>/data``."""
    from gea.rollouts.collect import collect

    result = collect(collect_config(config))
    return {"episodes": result.meta.num_episodes, "steps": result.meta.num_steps, "expert_success": result.successes}


def continuous_tasks(config: QuickstartConfig) -> list[str]:
    """The selected tasks whose actions are continuous (the ones the RVQ tokenizer serves)."""
    import gea.envs

    return [task.env for task in config.selected_tasks() if gea.envs.spec(task.env).action.kind == "continuous"]


def tokenizer_config(config: QuickstartConfig) -> Any:
    """The ``gea tokenizer fit`` config: the small RVQ on the dataset's continuous actions."""
    from gea.tokenizers.fit import TokenizerFitConfig
    from gea.tokenizers.rvq import RVQTrainConfig

    return TokenizerFitConfig(
        data=str(stage_dir(config, "collect")),
        out=str(stage_dir(config, "tokenizer")),
        progress=config.progress,
        train=RVQTrainConfig(steps=config.tokenizer.steps),
    )


def run_tokenizer(config: QuickstartConfig) -> dict[str, Any]:
    """Fit the RVQ on the dataset's continuous actions into ``<out_dir>/tokenizer``."""
    from gea.tokenizers.fit import run_fit

    metrics = run_fit(tokenizer_config(config))
    return {"heldout_mse": metrics["heldout_mse"], "train_mse": metrics["train_mse"]}


def sft_config(config: QuickstartConfig) -> Any:
    """The ``gea sft`` config: the tiny GEA policy on every domain of the dataset (RVQ for continuous actions)."""
    from gea.agents.config import PolicyConfig
    from gea.train.sft.config import DataConfig, OptimConfig, SFTConfig

    section = config.sft
    rvq = continuous_tasks(config) and section.continuous_tokenizer == "rvq"
    return SFTConfig(
        data=DataConfig(
            paths=[str(stage_dir(config, "collect"))],
            embodiment_weights=[f"{env_id}={weight:g}" for env_id, weight in sft_weights(config).items()],
        ),
        policy=PolicyConfig(context=section.context, visual_tokens=section.visual_tokens, vision=section.vision),
        action_tokenizer=str(stage_dir(config, "tokenizer") / "tokenizer") if rvq else "",
        optim=OptimConfig(lr=section.lr),
        steps=section.steps,
        batch_size=section.batch_size,
        cpu_threads=config.threads,
        seed=config.seed,
        out_dir=str(stage_dir(config, "sft")),
        resume=True,
        save_every=max(1, section.steps // 2),
        log_every=max(1, min(50, section.steps // 5)),
        progress=config.progress,
    )


def sft_weights(config: QuickstartConfig) -> dict[str, float]:
    """The suite tasks whose SFT sampling weight is not 1, with their weights."""
    return {task.env: task.sft_weight for task in config.selected_tasks() if task.sft_weight != 1.0}


def run_sft_stage(config: QuickstartConfig) -> dict[str, Any]:
    """SFT of the tiny GEA policy on every domain of the dataset into ``<out_dir>/sft``."""
    from gea.train.sft.trainer import run_sft

    result = run_sft(sft_config(config))
    return {"step": result.step, **{key: float(value) for key, value in result.metrics.items()}}


def ppo_env_kwargs(config: QuickstartConfig) -> dict[str, Any]:
    """The suite's env options of the PPO envs (one vector env takes one set of options for all its envs)."""
    options = {task.env: dict(task.env_kwargs) for task in config.suite.tasks}
    chosen = [options.get(env_id, {}) for env_id in config.ppo.envs]
    if any(kwargs != chosen[0] for kwargs in chosen):
        raise ConfigError(f"ppo.envs {config.ppo.envs} have different env_kwargs in the suite; run them separately")
    return chosen[0] if chosen else {}


def ppo_config(config: QuickstartConfig) -> Any:
    """The ``gea ppo`` config: GEA's recipe (LoRA, joint SFT term) from the SFT policy, at quickstart scale, with
    ``ppo.overrides`` applied last."""
    from gea.train.ppo.config import PPOConfig

    section = config.ppo
    recipe = load_job_config("ppo", PPOConfig, ["ppo_recipe@_global_=gea"])
    lora = dataclasses.replace(recipe.policy.lora, rank=16)
    stage = dataclasses.replace(
        recipe,
        algo=section.algo,
        policy=dataclasses.replace(recipe.policy, path=str(stage_dir(config, "sft") / "policy"), lora=lora),
        envs=list(section.envs),
        image_size=config.image_size,
        env_kwargs=ppo_env_kwargs(config),
        num_envs=section.num_envs,
        rollout_steps=section.rollout_steps,
        minibatches=2,
        total_steps=section.num_envs * section.rollout_steps * section.updates,
        lr=section.lr,
        sft=dataclasses.replace(recipe.sft, dataset=str(stage_dir(config, "collect")), batch_size=8),
        seed=config.seed,
        threads=config.threads,
        out_dir=str(stage_dir(config, "ppo")),
        checkpoint_every=1,
        resume=True,
        progress=config.progress,
    )
    return apply_overrides("ppo", stage, section.overrides)


def run_ppo_stage(config: QuickstartConfig) -> dict[str, Any]:
    """A short PPO run from the SFT policy on ``ppo.envs`` into ``<out_dir>/ppo``."""
    from gea.train.ppo import run_ppo

    result = run_ppo(ppo_config(config))
    return {"global_step": result.global_step, "success_rate": result.success_rate, "mean_return": result.mean_return}


def eval_config(config: QuickstartConfig) -> Any:
    """The ``gea eval`` config of the final comparison (saved as ``<out_dir>/eval/config.yaml``)."""
    from gea.rollouts.evaluate import EvalConfig

    tasks = []
    cap = config.eval.max_steps
    for task in config.selected_tasks():
        limit = task.max_steps if cap is None else min(task.max_steps or cap, cap)
        tasks.append(dataclasses.replace(task, episodes=config.eval.episodes, max_steps=limit))
    return EvalConfig(
        suite=SuiteConfig(name=config.suite.name, tasks=tasks),
        agents=list(agent_names(config).values()),
        seed=config.seed,
        image_size=config.image_size,
        videos_per_task=config.eval.videos_per_task,
        num_workers=config.eval.num_workers,
        resume=True,
        out_dir=str(stage_dir(config, "eval")),
    )


def eval_parts(config: QuickstartConfig, evaluation: Any) -> list[Any]:
    """The evaluation split in two: every agent but SFT+PPO on every task, SFT+PPO on its PPO tasks only."""
    names = agent_names(config)
    tuned = names.pop("sft+ppo", None)
    parts = [dataclasses.replace(evaluation, agents=list(names.values()))] if names else []
    ppo_tasks = [task for task in evaluation.suite.tasks if task.env in config.ppo.envs]
    if tuned is not None and ppo_tasks:
        suite = SuiteConfig(name=evaluation.suite.name, tasks=ppo_tasks)
        parts.append(dataclasses.replace(evaluation, agents=[tuned], suite=suite))
    return parts


def run_eval(config: QuickstartConfig) -> dict[str, Any]:
    """Evaluate the agents (SFT+PPO only where PPO ran) and write the report into ``<out_dir>/eval``."""
    from gea.rollouts.evaluate import evaluate_with_progress, plan_runs
    from gea.rollouts.report import write_report

    evaluation = eval_config(config)
    out = stage_dir(config, "eval")
    save_config(evaluation, out / "config.yaml")
    previous = os.environ.get("OMP_NUM_THREADS")
    if config.threads > 0:  # read by torch in the spawned evaluation workers
        os.environ["OMP_NUM_THREADS"] = str(config.threads)
    try:
        results = [result for part in eval_parts(config, evaluation) for result in evaluate_with_progress(part)]
    finally:
        if previous is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = previous
    runs, skipped = plan_runs(evaluation)
    results += untuned_tasks(config, [run.task for run in runs])
    payload = write_report(evaluation, results, [task.env for task in skipped], out)
    return {"tasks": len(payload["tasks"])}


def untuned_tasks(config: QuickstartConfig, tasks: list[SuiteTask]) -> list[Any]:
    """SFT+PPO's entry on each task PPO did not train on: no episodes, and the reason, for the report."""
    import gea.envs
    from gea.rollouts.evaluate import TaskResult

    tuned = agent_names(config).get("sft+ppo")
    if tuned is None:
        return []
    reason = f"not run: the PPO stage trained on {', '.join(config.ppo.envs)} only (ppo.envs)"
    untrained = {task.env: task for task in tasks if task.env not in config.ppo.envs}
    return [
        TaskResult(tuned, env_id, gea.envs.spec(env_id).domain, task.split, [], unavailable=reason)
        for env_id, task in untrained.items()
    ]


RUNNERS: dict[str, Callable[[QuickstartConfig], dict[str, Any]]] = {
    "collect": run_collect,
    "tokenizer": run_tokenizer,
    "sft": run_sft_stage,
    "ppo": run_ppo_stage,
    "eval": run_eval,
}
TITLES = {
    "collect": "collect expert episodes",
    "tokenizer": "fit the RVQ action tokenizer",
    "sft": "SFT the GEA policy on all domains",
    "ppo": "PPO from the SFT policy",
    "eval": "evaluate random / expert / SFT / SFT+PPO",
}


# ------------------------------------------------------------------------------------------------ resume
def stage_settings(config: QuickstartConfig, stage: str) -> dict[str, Any]:
    """The settings a stage's output depends on (its marker must match them to be reused)."""
    common = {
        "tasks": [
            {"env": task.env, "env_kwargs": task.env_kwargs, "demos": task.demos} for task in config.selected_tasks()
        ],
        "image_size": config.image_size,
        "seed": config.seed,
    }
    sections = {
        "collect": config.collect,
        "tokenizer": config.tokenizer,
        "sft": config.sft,
        "ppo": config.ppo,
        "eval": config.eval,
    }
    settings = {**common, "stage": dataclasses.asdict(sections[stage])}
    weights = sft_weights(config)
    if weights and STAGES.index(stage) >= STAGES.index("sft"):
        settings["sft_weights"] = weights
    upstream = STAGES[: STAGES.index(stage)]
    return {**settings, "upstream": {name: dataclasses.asdict(sections[name]) for name in upstream}}


def is_done(config: QuickstartConfig, stage: str) -> bool:
    """Whether a finished run of ``stage`` with the same settings is on disk."""
    marker = stage_dir(config, stage) / MARKER
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()).get("settings") == json.loads(json.dumps(stage_settings(config, stage)))
    except json.JSONDecodeError:
        return False


def mark_done(config: QuickstartConfig, stage: str, summary: dict[str, Any], seconds: float) -> None:
    """Write the stage's marker atomically."""
    document = {"settings": stage_settings(config, stage), "summary": summary, "seconds": seconds}
    atomic_write_json(stage_dir(config, stage) / MARKER, document, indent=1)


def active_stages(config: QuickstartConfig) -> list[str]:
    """The stages this configuration needs (no tokenizer without continuous tasks, no PPO if not evaluated)."""
    stages = list(STAGES)
    if not continuous_tasks(config) or config.sft.continuous_tokenizer != "rvq":
        stages.remove("tokenizer")
    if "sft+ppo" not in config.eval.agents:
        stages.remove("ppo")
    return stages


# ------------------------------------------------------------------------------------------------ run
def summary_table(payload: dict[str, Any], labels: dict[str, str], markdown: bool = False) -> str:
    """Success per task (rows) and agent label (columns), with each domain's mean underneath."""
    by_name = {name: label for label, name in labels.items()}
    cells: dict[str, dict[str, float]] = {}
    domains: dict[str, str] = {}
    for row in payload["tasks"]:
        cells.setdefault(row["env_id"], {})[by_name.get(row["agent"], row["agent"])] = row["success_rate"]
        domains[row["env_id"]] = row["domain"]
    columns = list(labels)
    rows: list[list[object]] = []
    for env_id, values in cells.items():
        rows.append([env_id, domains[env_id], *(f"{100 * values[c]:.0f}%" if c in values else "-" for c in columns)])
    for domain in dict.fromkeys(domains.values()):
        members = [cells[env_id] for env_id, d in domains.items() if d == domain]
        means = [
            f"{100 * sum(m[c] for m in members) / len(members):.0f}%" if all(c in m for m in members) else "-"
            for c in columns
        ]
        rows.append([f"mean ({domain})", domain, *means])
    return format_table(["task", "domain", *columns], rows, markdown=markdown)


def run_quickstart(config: QuickstartConfig) -> QuickstartResult:
    """Run (or resume) every stage, then return the timings and the evaluation payload."""
    load_plugins(config.imports)  # every stage (and its workers) sees the plugins' envs and experts
    out = Path(config.out_dir)
    agent_names(config)  # unknown agent labels fail here, before any work
    if config.sft.continuous_tokenizer not in ("rvq", "uniform"):
        raise ConfigError(f"sft.continuous_tokenizer must be rvq or uniform, got {config.sft.continuous_tokenizer!r}")
    save_config(config, out / "quickstart.yaml")
    stages = active_stages(config)
    seconds: dict[str, float] = {}
    skipped: list[str] = []
    for number, stage in enumerate(stages, start=1):
        title = f"[{number}/{len(stages)}] {TITLES[stage]} -> {stage_dir(config, stage)}"
        if config.resume and is_done(config, stage):
            banner(f"{title}  (done earlier: skipped)")
            seconds[stage] = 0.0
            skipped.append(stage)
            continue
        banner(title)
        start = time.perf_counter()
        summary = RUNNERS[stage](config)
        seconds[stage] = time.perf_counter() - start
        mark_done(config, stage, summary, seconds[stage])
        print(f"{stage}: {json.dumps(summary, default=str)} ({seconds[stage]:.0f} s)", flush=True)
    payload = json.loads((stage_dir(config, "eval") / "results.json").read_text())
    return QuickstartResult(seconds, skipped, payload)
