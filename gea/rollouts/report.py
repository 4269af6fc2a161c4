"""Turn evaluation results into ``results.json``, ``results.csv``, ``report.md``, plots and TensorBoard."""

from __future__ import annotations

import csv
import functools
import io
import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gea.errors import ConfigError
from gea.files import atomic_write, atomic_write_text
from gea.rollouts.evaluate import RESULTS_SCHEMA_VERSION, EvalConfig, TaskResult, missing_simulator_reason
from gea.rollouts.metrics import interquartile_mean, wilson_interval
from gea.rollouts.normalization import normalized_score
from gea.table import format_table


@dataclass(frozen=True)
class TaskRow:
    """One (agent, task) line of the report."""

    agent: str
    env_id: str
    domain: str
    split: str
    episodes: int
    successes: int
    success_rate: float
    ci_low: float
    ci_high: float
    mean_return: float
    normalized_score: float | None
    cut_episodes: int = 0  # episodes not played to the game's end (max_steps cap, end_on_success)


@dataclass(frozen=True)
class DomainRow:
    """Aggregate of one agent over the tasks of one domain and split."""

    agent: str
    domain: str
    split: str
    tasks: int
    mean_success: float
    iqm_success: float


@dataclass(frozen=True)
class BenchmarkRow:
    """Normalized game score of one agent over one benchmark family (``procgen``, ``atari``) and split."""

    agent: str
    benchmark: str
    split: str
    tasks: int
    mean_normalized_score: float
    iqm_normalized_score: float


def task_rows(results: list[TaskResult]) -> list[TaskRow]:
    """Per-task rows with 95% Wilson intervals, and normalized scores where the game defines one and every
    episode was played to the game's end (the normalization ranges are returns of whole episodes)."""
    rows = []
    for result in results:
        if not result.agent_available:
            continue
        successes = sum(e.success for e in result.episodes)
        low, high = wilson_interval(successes, len(result.episodes))
        cut = sum(not e.whole for e in result.episodes)
        rows.append(
            TaskRow(
                agent=result.agent,
                env_id=result.env_id,
                domain=result.domain,
                split=result.split,
                episodes=len(result.episodes),
                successes=successes,
                success_rate=result.success_rate,
                ci_low=low,
                ci_high=high,
                mean_return=result.mean_return,
                normalized_score=None if cut else normalized_score(result.env_id, result.mean_return),
                cut_episodes=cut,
            )
        )
    return rows


def score_notes(results: list[TaskResult]) -> list[str]:
    """Why a game task has no normalized score for an agent: its episodes were cut short (and how to avoid it)."""
    notes = []
    for result in results:
        cut = [e.ended for e in result.episodes if not e.whole]
        if not cut or normalized_score(result.env_id, result.mean_return) is None:
            continue
        causes = [
            f"{cut.count('step_cap')} at max_steps" if "step_cap" in cut else "",
            f"{cut.count('success')} at their first success (end_on_success)" if "success" in cut else "",
        ]
        notes.append(
            f"{result.env_id} ({result.agent}): {len(cut)} of {len(result.episodes)} episodes cut short "
            f"({', '.join(c for c in causes if c)}); normalized scores are defined on whole episodes: "
            "leave the task's max_steps unset (the game's own limit) and set end_on_success=false"
        )
    return notes


def domain_rows(rows: list[TaskRow]) -> list[DomainRow]:
    """Per (agent, domain, split) aggregates: mean and IQM of the task success rates."""
    groups: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for row in rows:
        groups[(row.agent, row.domain, row.split)].append(row.success_rate)
    return [
        DomainRow(agent, domain, split, len(rates), sum(rates) / len(rates), interquartile_mean(rates))
        for (agent, domain, split), rates in groups.items()
    ]


def benchmark_rows(rows: list[TaskRow]) -> list[BenchmarkRow]:
    """Per (agent, benchmark family, split) mean and IQM of normalized scores, where games define them."""
    groups: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for row in rows:
        if row.normalized_score is not None:
            groups[(row.agent, row.env_id.split(":", 1)[0], row.split)].append(row.normalized_score)
    return [
        BenchmarkRow(agent, benchmark, split, len(scores), sum(scores) / len(scores), interquartile_mean(scores))
        for (agent, benchmark, split), scores in groups.items()
    ]


def skipped_entries(results: list[TaskResult], skipped: list[str]) -> list[dict[str, Any]]:
    """Every (task, agent) without a row and why: tasks skipped for every agent (``agent`` None), then agents
    that could not play a task (e.g. no expert for it)."""
    entries: list[dict[str, Any]] = [
        {"env_id": env_id, "agent": None, "reason": missing_simulator_reason(env_id)} for env_id in skipped
    ]
    entries += [
        {"env_id": r.env_id, "agent": r.agent, "reason": r.unavailable} for r in results if r.unavailable is not None
    ]
    return entries


def results_payload(config: EvalConfig, results: list[TaskResult], skipped: list[str]) -> dict[str, Any]:
    """The versioned ``results.json`` document (``skipped``: env ids of tasks whose simulator is missing)."""
    rows = task_rows(results)
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "suite": config.suite.name,
        "seed": config.seed,
        "agents": list(config.agents),
        "skipped_tasks": skipped_entries(results, skipped),
        "tasks": [asdict(row) for row in rows],
        "domains": [asdict(row) for row in domain_rows(rows)],
        "benchmarks": [asdict(row) for row in benchmark_rows(rows)],
        "score_notes": score_notes(results),
        "episodes": [{"agent": r.agent, "env_id": r.env_id, **asdict(e)} for r in results for e in r.episodes],
    }


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def success_table(payload: dict[str, Any], markdown: bool = False) -> str:
    """One row per task, one ``success [95% CI]`` column per agent (``n/a`` where it could not play the task,
    with the reason in ``not_evaluated``)."""
    agents = payload["agents"]
    cells: dict[str, dict[str, str]] = defaultdict(dict)
    domains: dict[str, str] = {}
    for row in payload["tasks"]:
        interval = f"[{_percent(row['ci_low'])}-{_percent(row['ci_high'])}]"
        cells[row["env_id"]][row["agent"]] = f"{_percent(row['success_rate'])} {interval}"
        domains[row["env_id"]] = row["domain"]
    for entry in payload["skipped_tasks"]:
        if entry["agent"] is not None and entry["env_id"] in cells:
            cells[entry["env_id"]][entry["agent"]] = "n/a"
    lines = [[env_id, domains[env_id], *(cells[env_id].get(a, "-") for a in agents)] for env_id in cells]
    return format_table(["task", "domain", *agents], lines, markdown=markdown)


def domain_table(payload: dict[str, Any], markdown: bool = False) -> str:
    """Per-domain success aggregates for every agent."""
    lines = [
        [
            row["domain"],
            row["split"],
            row["agent"],
            row["tasks"],
            _percent(row["mean_success"]),
            _percent(row["iqm_success"]),
        ]
        for row in sorted(payload["domains"], key=lambda r: (r["domain"], r["split"], r["agent"]))
    ]
    headers = ["domain", "split", "agent", "tasks", "mean success", "IQM success"]
    return format_table(headers, lines, markdown=markdown)


def benchmark_table(payload: dict[str, Any], markdown: bool = False) -> str:
    """Normalized scores per benchmark family (Procgen min-max, Atari human-normalized); empty if none."""
    rows = sorted(payload["benchmarks"], key=lambda r: (r["benchmark"], r["split"], r["agent"]))
    if not rows:
        return ""
    lines = [
        [
            r["benchmark"],
            r["split"],
            r["agent"],
            r["tasks"],
            f"{r['mean_normalized_score']:.3f}",
            f"{r['iqm_normalized_score']:.3f}",
        ]
        for r in rows
    ]
    return format_table(["benchmark", "split", "agent", "tasks", "mean normalized", "IQM normalized"], lines, markdown)


def not_evaluated(payload: dict[str, Any], markdown: bool = False) -> list[str]:
    """One line per (task, agent) without a result, with the reason (empty when every agent played every task)."""
    lines = []
    for entry in payload["skipped_tasks"]:
        who = "every agent" if entry["agent"] is None else entry["agent"]
        task = f"`{entry['env_id']}`" if markdown else entry["env_id"]
        lines.append(f"{'- ' if markdown else '  '}{task}, {who}: {entry['reason']}")
    return lines


def text_report(payload: dict[str, Any]) -> str:
    """The terminal form of a report: per-task, per-domain and (where any) normalized-score tables, and why any
    (task, agent) has no result or no normalized score."""
    parts = [success_table(payload)]
    missing = not_evaluated(payload)
    if missing:
        parts.append("\n".join(["not evaluated:", *missing]))
    parts.append(domain_table(payload))
    if payload["benchmarks"]:
        parts.append(benchmark_table(payload))
    if payload.get("score_notes"):
        parts.append("\n".join(["no normalized score:", *(f"  {note}" for note in payload["score_notes"])]))
    return "\n\n".join(parts)


def markdown_report(payload: dict[str, Any]) -> str:
    """``report.md``: per-task and per-domain tables, normalized scores, and what was not evaluated and why."""
    missing = not_evaluated(payload, markdown=True)
    parts = [
        f"# Evaluation: suite `{payload['suite']}`, seed {payload['seed']}",
        "",
        "## Success rate per task (95% Wilson interval)",
        "",
        success_table(payload, markdown=True),
        "",
    ]
    if missing:
        parts += ["Not evaluated (`n/a`, or missing tasks):", "", *missing, ""]
    parts += [
        "## Per domain",
        "",
        domain_table(payload, markdown=True),
        "",
    ]
    if payload["benchmarks"]:
        parts += [
            "## Normalized game scores (Procgen: min-max, GEA easy-mode ranges; Atari: human-normalized)",
            "",
            benchmark_table(payload, markdown=True),
            "",
        ]
    if payload.get("score_notes"):
        parts += ["No normalized score:", "", *(f"- {note}" for note in payload["score_notes"]), ""]
    return "\n".join(parts)


def agent_label(agent: str) -> str:
    """A short legend label: a policy path keeps only its last two parts (``gea-sample:sft/policy``)."""
    kind, separator, path = agent.partition(":")
    if not separator or "/" not in path:
        return agent
    return f"{kind}:{'/'.join(Path(path).parts[-2:])}"


def _pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def domain_figure(payload: dict[str, Any], domain: str) -> Any:
    """The bar chart of one domain: success per task for each agent that has results there, with 95% intervals;
    the legend sits beside the axes, never over the bars."""
    plt = _pyplot()
    rows = [row for row in payload["tasks"] if row["domain"] == domain]
    tasks = list(dict.fromkeys(row["env_id"] for row in rows))
    agents = [agent for agent in payload["agents"] if any(row["agent"] == agent for row in rows)]
    width = 0.8 / max(1, len(agents))
    figure, axes = plt.subplots(figsize=(max(4.0, 1.3 * len(tasks) + 1.5) + 2.2, 3.4))
    for index, agent in enumerate(agents):
        mine = {row["env_id"]: row for row in rows if row["agent"] == agent}
        shown = [task for task in tasks if task in mine]
        positions = [i + index * width for i, task in enumerate(tasks) if task in mine]
        values = [100 * mine[task]["success_rate"] for task in shown]
        errors = [
            [max(0.0, 100 * (mine[t]["success_rate"] - mine[t]["ci_low"])) for t in shown],
            [max(0.0, 100 * (mine[t]["ci_high"] - mine[t]["success_rate"])) for t in shown],
        ]
        axes.bar(positions, values, width, yerr=errors, capsize=3, label=agent_label(agent))
    axes.set_xticks([i + 0.4 - width / 2 for i in range(len(tasks))])
    axes.set_xticklabels([t.split(":", 1)[-1] for t in tasks], rotation=20, ha="right", fontsize=8)
    axes.set_ylabel("success %")
    axes.set_ylim(0, 105)
    axes.set_title(f"{domain} (suite {payload['suite']})")
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)
    figure.tight_layout()
    return figure


def plot_domains(payload: dict[str, Any], folder: Path) -> list[Path]:
    """One bar chart PNG per domain (``domain_figure``)."""
    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for domain in sorted({row["domain"] for row in payload["tasks"]}):
        figure = domain_figure(payload, domain)
        path = folder / f"{domain}.png"
        atomic_write(path, functools.partial(figure.savefig, dpi=110, format="png", bbox_inches="tight"))
        plt.close(figure)
        paths.append(path)
    return paths


def log_tensorboard(payload: dict[str, Any], folder: Path) -> None:
    """Success rate and mean return per (agent, task) as TensorBoard scalars."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(folder))
    try:
        for row in payload["tasks"]:
            writer.add_scalar(f"success/{row['agent']}/{row['env_id']}", row["success_rate"], 0)
            writer.add_scalar(f"return/{row['agent']}/{row['env_id']}", row["mean_return"], 0)
    finally:
        writer.close()


def write_report(config: EvalConfig, results: list[TaskResult], skipped: list[str], out_dir: Path) -> dict[str, Any]:
    """Write results.json, results.csv, report.md, plots/ and tensorboard/ into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = results_payload(config, results, skipped)
    atomic_write_text(out_dir / "results.json", json.dumps(payload, indent=2))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(TaskRow.__dataclass_fields__))
    writer.writeheader()
    writer.writerows(payload["tasks"])
    atomic_write_text(out_dir / "results.csv", buffer.getvalue())
    atomic_write_text(out_dir / "report.md", markdown_report(payload))
    plot_domains(payload, out_dir / "plots")
    log_tensorboard(payload, out_dir / "tensorboard")
    return payload


def load_results(path: Path) -> dict[str, Any]:
    """Read a ``results.json`` (or the folder holding it), checking its schema version (version 1 is upgraded)."""
    path = path / "results.json" if path.is_dir() else path
    payload = json.loads(path.read_text())
    version = payload.get("schema_version")
    if version == 1:  # skipped tasks were bare env ids; agents without a result were not recorded
        reason = "simulator not installed"
        payload["skipped_tasks"] = [{"env_id": e, "agent": None, "reason": reason} for e in payload["skipped_tasks"]]
        payload["schema_version"] = version = RESULTS_SCHEMA_VERSION
    if version != RESULTS_SCHEMA_VERSION:
        raise ConfigError(f"{path}: results schema {version}, expected {RESULTS_SCHEMA_VERSION} (or 1)")
    return payload


def compare_table(first: dict[str, Any], second: dict[str, Any], markdown: bool = False) -> str:
    """Success rate per (task, agent) in two result files, with the difference."""

    def index(payload: dict[str, Any]) -> dict[tuple[str, str], float]:
        return {(row["env_id"], row["agent"]): row["success_rate"] for row in payload["tasks"]}

    a, b = index(first), index(second)
    lines = []
    for key in sorted(set(a) | set(b)):
        left, right = a.get(key), b.get(key)
        delta = "-" if left is None or right is None else f"{100 * (right - left):+.0f}"
        lines.append(
            [key[0], key[1], "-" if left is None else _percent(left), "-" if right is None else _percent(right), delta]
        )
    return format_table(["task", "agent", "A", "B", "B-A (points)"], lines, markdown=markdown)
