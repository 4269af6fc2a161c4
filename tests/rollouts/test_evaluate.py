"""End-to-end evaluation on real simulators: report files, determinism, resume after kill -9."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gea.rollouts.evaluate import EvalConfig, evaluate_with_progress, plan_runs
from gea.rollouts.report import write_report
from gea.rollouts.suites import SuiteConfig, SuiteTask

TASKS = ["babyai:GoToRedBallGrey", "babyai:GoToLocal", "babyai:PickupLoc", "cartpole"]
OVERRIDES = [
    "suite.name=resume-test",
    "suite.tasks=[" + ",".join(f"{{env: '{t}', episodes: 4, max_steps: 64}}" for t in TASKS) + "]",
    "agents=[random,expert]",
    "videos_per_task=0",
    "image_size=32",
]


def _run_eval(out_dir: Path, *extra: str) -> subprocess.Popen[str]:
    code = "import sys; from gea.cli import main; sys.exit(main(sys.argv[1:]))"
    args = [sys.executable, "-c", code, "eval", *OVERRIDES, f"out_dir={out_dir}", *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _scores(out_dir: Path) -> list[dict[str, object]]:
    return json.loads((out_dir / "results.json").read_text())["tasks"]


@pytest.mark.timeout(300)
def test_kill_9_mid_suite_then_rerun_reuses_finished_tasks(tmp_path: Path) -> None:
    straight = tmp_path / "straight"
    assert _run_eval(straight).wait() == 0

    interrupted = tmp_path / "interrupted"
    process = _run_eval(interrupted)
    tasks_folder = interrupted / "tasks"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(tasks_folder.glob("*/*.json"))) < 2:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished_before = {p: p.stat().st_mtime_ns for p in tasks_folder.glob("*/*.json")}
    assert 2 <= len(finished_before) < 2 * len(TASKS), "the kill must land mid-suite"

    assert _run_eval(interrupted).wait() == 0
    for path, mtime in finished_before.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was recomputed instead of reused"
    assert _scores(interrupted) == _scores(straight)


def test_expert_beats_random_with_report_files(tmp_path: Path) -> None:
    suite = SuiteConfig(
        "test",
        [SuiteTask("babyai:GoToLocal", episodes=6, max_steps=64), SuiteTask("cartpole", episodes=2)],
    )
    config = EvalConfig(
        suite=suite, agents=["random", "expert"], image_size=32, videos_per_task=1, out_dir=str(tmp_path)
    )
    results = evaluate_with_progress(config)
    payload = write_report(config, results, [t.env for t in plan_runs(config)[1]], tmp_path)
    rates = {(row["env_id"], row["agent"]): row["success_rate"] for row in payload["tasks"]}
    assert rates[("babyai:GoToLocal", "expert")] >= 0.95
    assert rates[("babyai:GoToLocal", "expert")] > rates[("babyai:GoToLocal", "random")] + 0.5
    assert ("cartpole", "expert") not in rates  # no expert for CartPole: reported as not applicable
    assert "babyai:GoToLocal" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "plots" / "navigation.png").stat().st_size > 1000
    videos = list((tmp_path / "videos").rglob("*.mp4"))
    assert {v.parent.name for v in videos} == {"random", "expert"}
    assert list((tmp_path / "tensorboard").iterdir())


def test_task_env_kwargs_override_the_global_image_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gea.envs

    sizes: list[int] = []
    real_make = gea.envs.make

    def recording_make(env_id: str, **kwargs: object) -> object:
        env = real_make(env_id, **kwargs)
        sizes.append(env.observation_space["image"].shape[0])
        return env

    monkeypatch.setattr(gea.envs, "make", recording_make)
    tasks = [
        SuiteTask("babyai:GoToLocal", episodes=1, max_steps=4, env_kwargs={"image_size": 48}),
        SuiteTask("babyai:PickupLoc", episodes=1, max_steps=4),
    ]
    config = EvalConfig(
        suite=SuiteConfig("sizes", tasks), agents=["random"], image_size=32, videos_per_task=0, out_dir=str(tmp_path)
    )
    evaluate_with_progress(config)
    assert sizes == [48, 32]


def test_same_seed_same_results(tmp_path: Path) -> None:
    suite = SuiteConfig("test", [SuiteTask("babyai:GoToLocal", episodes=3, max_steps=32)])
    runs = []
    for name in ("a", "b"):
        config = EvalConfig(suite=suite, agents=["random"], videos_per_task=0, out_dir=str(tmp_path / name))
        runs.append([e for r in evaluate_with_progress(config) for e in r.episodes])
    assert runs[0] == runs[1]


@pytest.mark.timeout(900)
def test_quick_suite_expert_beats_random_on_every_task(tmp_path: Path) -> None:
    """The shipped `quick` suite, every domain, real simulators, shortened to 4 episodes per task."""
    from gea.config import load_job_config

    config = load_job_config("eval", EvalConfig, ["suite=quick", "episodes=4", f"out_dir={tmp_path}"])
    results = evaluate_with_progress(config)
    payload = write_report(config, results, [t.env for t in plan_runs(config)[1]], tmp_path)
    rates = {(row["env_id"], row["agent"]): row["success_rate"] for row in payload["tasks"]}
    for task in config.suite.tasks:
        expert, random = rates[(task.env, "expert")], rates[(task.env, "random")]
        assert expert >= random + 0.5, f"{task.env}: expert {expert:.0%} vs random {random:.0%}"
    domains = {row["domain"] for row in payload["tasks"]}
    assert domains == {"manipulation", "navigation", "game", "ui", "planning"}
    assert len(list((tmp_path / "videos").rglob("*.mp4"))) == 2 * len(config.suite.tasks)
    assert len(list((tmp_path / "plots").glob("*.png"))) == len(domains)
