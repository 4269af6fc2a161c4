"""The evaluation report says why a (task, agent) has no result or no normalized score, and draws clean plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import gea.agents.experts as experts
import gea.envs
from gea.cli import main
from gea.rollouts.episodes import EpisodeResult
from gea.rollouts.evaluate import EvalConfig, TaskResult, evaluate_with_progress, plan_runs
from gea.rollouts.report import domain_figure, load_results, results_payload, task_rows, write_report
from gea.rollouts.suites import SuiteConfig, SuiteTask


def _needs_procgen() -> None:
    missing = gea.envs.missing_modules("procgen:coinrun")
    if missing:
        pytest.skip(f"procgen needs {missing} (pip install 'gea[procgen]')")


def test_a_missing_expert_is_reported_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _needs_procgen()
    assert experts.has_expert("procgen:bigfish")  # a shipped expert, hidden here as if it had never been trained
    monkeypatch.delitem(experts._EXPERTS, "procgen:bigfish")
    tasks = "[{env: 'procgen:bigfish', episodes: 1, max_steps: 5}, {env: 'procgen:coinrun', episodes: 1, max_steps: 5}]"
    args = ["eval", f"suite.tasks={tasks}", "agents=[random,expert]", "videos_per_task=0", f"out_dir={tmp_path}"]
    assert main(args) == 0
    printed = capsys.readouterr()
    fix = "train one with `gea expert train procgen:bigfish`"
    payload = json.loads((tmp_path / "results.json").read_text())
    [entry] = payload["skipped_tasks"]
    assert entry["env_id"] == "procgen:bigfish" and entry["agent"] == "expert" and fix in entry["reason"]
    assert "procgen:coinrun" in entry["reason"]  # the game of that family that has one
    report = (tmp_path / "report.md").read_text()
    assert fix in report and "n/a" in report
    assert fix in printed.out and "n/a" in printed.out
    assert {(row["env_id"], row["agent"]) for row in payload["tasks"]} == {
        ("procgen:bigfish", "random"),
        ("procgen:coinrun", "random"),
        ("procgen:coinrun", "expert"),
    }


def _result(env_id: str, agent: str, returns: list[float], ended: str = "terminated") -> TaskResult:
    episodes = [EpisodeResult(env_id, i, r > 5, r, 50, ended) for i, r in enumerate(returns)]
    return TaskResult(agent, env_id, "game", "seen", episodes)


def test_normalized_scores_only_from_whole_episodes() -> None:
    whole = _result("procgen:coinrun", "expert", [10.0, 10.0, 0.0, 10.0])
    capped = _result("procgen:coinrun", "random", [0.0, 0.0], ended="step_cap")
    cut = _result("atari:RoadRunner", "expert", [900.0], ended="success")
    rows = {(row.agent, row.env_id): row for row in task_rows([whole, capped, cut])}
    assert rows[("expert", "procgen:coinrun")].normalized_score == pytest.approx((7.5 - 5.0) / (10.0 - 5.0))
    assert rows[("random", "procgen:coinrun")].normalized_score is None
    assert rows[("random", "procgen:coinrun")].cut_episodes == 2
    assert rows[("expert", "atari:RoadRunner")].normalized_score is None
    config = EvalConfig(suite=SuiteConfig("t", [SuiteTask("procgen:coinrun")]), agents=["random", "expert"])
    payload = results_payload(config, [whole, capped, cut], [])
    notes = "\n".join(payload["score_notes"])
    assert "procgen:coinrun (random): 2 of 2 episodes cut short (2 at max_steps)" in notes
    assert "atari:RoadRunner (expert): 1 of 1 episodes cut short (1 at their first success (end_on_success))" in notes
    assert "end_on_success=false" in notes and "max_steps unset" in notes
    [benchmark] = [row for row in payload["benchmarks"] if row["benchmark"] == "procgen"]
    assert benchmark["agent"] == "expert" and benchmark["tasks"] == 1


def test_procgen_episodes_cut_by_max_steps_get_no_normalized_score(tmp_path: Path) -> None:
    """The quick suite's CoinRun cap (a few hundred steps) once gave random -1.000 and a 50% expert 0.000: the
    ranges (R_min 5 = half the coins) are returns of whole 1000-step episodes, not of capped ones."""
    _needs_procgen()
    tasks = [SuiteTask("procgen:coinrun", episodes=2, max_steps=20), SuiteTask("procgen:maze", episodes=1)]
    config = EvalConfig(
        suite=SuiteConfig("t", tasks), agents=["random"], videos_per_task=0, end_on_success=False, out_dir=str(tmp_path)
    )
    results = evaluate_with_progress(config)
    payload = write_report(config, results, [t.env for t in plan_runs(config)[1]], tmp_path)
    rows = {row["env_id"]: row for row in payload["tasks"]}
    assert rows["procgen:coinrun"]["normalized_score"] is None and rows["procgen:coinrun"]["cut_episodes"] == 2
    maze = rows["procgen:maze"]  # played to the end (level done or the game's own 500-step limit)
    assert maze["cut_episodes"] == 0
    assert maze["normalized_score"] == pytest.approx((maze["mean_return"] - 5.0) / 5.0)
    assert (
        "procgen:coinrun (random): 2 of 2 episodes cut short (2 at max_steps)" in (tmp_path / "report.md").read_text()
    )


def test_plot_legend_lists_only_agents_with_bars_and_stays_off_the_bars() -> None:
    rows = [
        {"agent": agent, "env_id": env_id, "domain": domain, "success_rate": rate, "ci_low": 0.0, "ci_high": 1.0}
        for agent, env_id, domain, rate in [
            ("random", "babyai:GoToLocal", "navigation", 0.1),
            ("expert", "babyai:GoToLocal", "navigation", 1.0),
            ("gea-sample:/tmp/run/ppo/policy", "babyai:GoToLocal", "navigation", 1.0),
            ("random", "procgen:starpilot", "game", 0.0),
        ]
    ]
    payload = {"suite": "t", "agents": ["random", "expert", "gea-sample:/tmp/run/ppo/policy"], "tasks": rows}
    game = domain_figure(payload, "game")
    assert [text.get_text() for text in game.axes[0].get_legend().get_texts()] == ["random"]
    navigation = domain_figure(payload, "navigation")
    legend = navigation.axes[0].get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["random", "expert", "gea-sample:ppo/policy"]
    navigation.canvas.draw()
    renderer = navigation.canvas.get_renderer()
    assert legend.get_window_extent(renderer).x0 >= navigation.axes[0].get_window_extent(renderer).x1


def test_version_1_results_still_load(tmp_path: Path) -> None:
    document = {"schema_version": 1, "skipped_tasks": ["habitat:Pick"], "tasks": [], "agents": []}
    (tmp_path / "results.json").write_text(json.dumps(document))
    payload = load_results(tmp_path)
    assert payload["skipped_tasks"] == [{"env_id": "habitat:Pick", "agent": None, "reason": "simulator not installed"}]
