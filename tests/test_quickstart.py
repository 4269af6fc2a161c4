"""``gea quickstart`` shrunken to two tasks and a few steps: every stage runs for real and leaves its outputs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import imageio.v2 as imageio
import pytest

from gea.cli import main
from gea.config import load_job_config
from gea.errors import ConfigError
from gea.quickstart import QuickstartConfig, active_stages, eval_config, is_done, run_ppo_stage, sft_config

TINY = [
    "tasks=[babyai:GoToLocal,metaworld:reach-v3]",
    "collect.episodes_per_task=2",
    "collect.max_episode_steps=20",
    "collect.num_envs=0",
    "tokenizer.steps=20",
    "sft.continuous_tokenizer=rvq",  # the RVQ path end to end (the default, uniform bins, fits nothing)
    "sft.steps=3",
    "sft.batch_size=4",
    "ppo.envs=[babyai:GoToLocal]",
    "ppo.num_envs=2",
    "ppo.rollout_steps=4",
    "ppo.updates=1",
    "eval.episodes=1",
    "eval.max_steps=8",
    "eval.num_workers=1",
    "progress=false",
]


def agent_actions(agent_name: str, seed: int, steps: int, **env_kwargs: Any) -> list[int]:
    """The actions ``agent_name`` (seeded with ``seed``) takes in ``steps`` steps of GoToLocal from reset seed 3."""
    import gea.envs
    from gea.rollouts.agents import make_agent

    agent = make_agent(agent_name, "babyai:GoToLocal", seed)
    assert agent is not None
    env = gea.envs.make("babyai:GoToLocal", image_size=32, **env_kwargs)
    observation, _ = env.reset(seed=3)
    agent.reset(env)
    chosen = []
    for _ in range(steps):
        action = agent.act(env, observation)
        chosen.append(int(action))
        observation, *_ = env.step(action)
    env.close()
    return chosen


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The out_dir of one shrunken quickstart run (collect, tokenizer, SFT, PPO, eval)."""
    out = tmp_path_factory.mktemp("quickstart")
    assert main(["quickstart", f"out_dir={out}", *TINY]) == 0
    return out


def test_every_stage_writes_the_layout_of_its_command(finished_run: Path) -> None:
    out = finished_run
    assert (out / "data" / "meta").is_dir() and any((out / "data").rglob("*.parquet"))
    assert (out / "tokenizer" / "tokenizer").is_dir() and (out / "tokenizer" / "metrics.json").is_file()
    assert (out / "sft" / "policy").is_dir() and (out / "sft" / "config.yaml").is_file()
    assert (out / "ppo" / "policy").is_dir() and (out / "ppo" / "config.yaml").is_file()
    for name in ("results.json", "results.csv", "report.md"):
        assert (out / "eval" / name).is_file()
    assert any((out / "eval" / "plots").glob("*.png"))
    assert any((out / "eval" / "videos").rglob("*.mp4"))
    payload = json.loads((out / "eval" / "results.json").read_text())
    assert all(row["agent"].startswith("gea-sample:") for row in payload["tasks"] if "policy" in row["agent"])
    cells = {(Path(row["agent"]).parent.name or row["agent"], row["env_id"]) for row in payload["tasks"]}
    for agent in ("random", "expert", "sft"):
        assert {(agent, "babyai:GoToLocal"), (agent, "metaworld:reach-v3")} <= cells
    assert ("ppo", "babyai:GoToLocal") in cells and ("ppo", "metaworld:reach-v3") not in cells
    reasons = {(Path(e["agent"]).parent.name, e["env_id"]): e["reason"] for e in payload["skipped_tasks"]}
    assert "the PPO stage trained on babyai:GoToLocal only" in reasons[("ppo", "metaworld:reach-v3")]
    assert "the PPO stage trained on babyai:GoToLocal only" in (out / "eval" / "report.md").read_text()
    assert (out / "eval" / "videos" / "random").is_dir()
    video = next((out / "eval" / "videos").rglob("*.mp4"))
    with imageio.get_reader(video, format="FFMPEG") as reader:
        assert min(reader.get_data(0).shape[:2]) >= 256  # the 32 px observations, enlarged to a watchable size


def test_rerun_skips_finished_stages(finished_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = finished_run
    config = load_job_config("quickstart", QuickstartConfig, [f"out_dir={out}", *TINY])
    assert all(is_done(config, stage) for stage in active_stages(config))
    before = (out / "sft" / "policy").stat().st_mtime_ns
    assert main(["quickstart", f"out_dir={out}", *TINY]) == 0
    printed = capsys.readouterr().out
    assert printed.count("(done earlier: skipped)") == 5
    assert "sft+ppo" in printed and "babyai:GoToLocal" in printed
    assert "metaworld:reach-v3, sft+ppo: not run: the PPO stage trained on babyai:GoToLocal only" in printed
    assert (out / "sft" / "policy").stat().st_mtime_ns == before
    changed = load_job_config("quickstart", QuickstartConfig, [f"out_dir={out}", *TINY[:-1], "sft.steps=4"])
    assert is_done(changed, "tokenizer") and not is_done(changed, "sft") and not is_done(changed, "eval")


def test_changed_task_options_invalidate_collection(finished_run: Path) -> None:
    config = load_job_config("quickstart", QuickstartConfig, [f"out_dir={finished_run}", *TINY])
    assert is_done(config, "collect")
    for change in ({"env_kwargs": {}}, {"demos": 5}):  # the suite plays GoToLocal with view=agent
        changed = load_job_config("quickstart", QuickstartConfig, [f"out_dir={finished_run}", *TINY])
        changed.suite.tasks = [
            dataclasses.replace(task, **change) if task.env == "babyai:GoToLocal" else task
            for task in changed.suite.tasks
        ]
        assert not is_done(changed, "collect"), change


def test_task_sft_weights_reach_sft_and_invalidate_it_but_not_collection(finished_run: Path) -> None:
    config = load_job_config("quickstart", QuickstartConfig, [f"out_dir={finished_run}", *TINY])
    assert sft_config(config).data.embodiment_weights == ["metaworld:reach-v3=2"]  # the quick suite's own
    assert is_done(config, "sft")
    config.suite.tasks = [
        dataclasses.replace(task, sft_weight=3.0) if task.env == "babyai:GoToLocal" else task
        for task in config.suite.tasks
    ]
    assert sft_config(config).data.embodiment_weight_map() == {"babyai:GoToLocal": 3.0, "metaworld:reach-v3": 2.0}
    assert is_done(config, "collect") and not is_done(config, "sft")


def test_ppo_overrides_are_applied_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gea.train.ppo

    captured = []

    def record(ppo_config: object) -> SimpleNamespace:  # stands in for the training run; the config is the point
        captured.append(ppo_config)
        return SimpleNamespace(global_step=0, success_rate=0.0, mean_return=0.0)

    monkeypatch.setattr(gea.train.ppo, "run_ppo", record)
    overrides = [f"out_dir={tmp_path}", "ppo.overrides=['policy.lora.enabled=false','epochs=3','minibatches=4']"]
    run_ppo_stage(load_job_config("quickstart", QuickstartConfig, overrides))
    (ppo_config,) = captured
    assert (ppo_config.policy.lora.enabled, ppo_config.epochs, ppo_config.minibatches) == (False, 3, 4)
    assert ppo_config.policy.lora.rank == 16 and ppo_config.policy.path.endswith("sft/policy")  # the stage's own


def test_default_uniform_bins_need_no_tokenizer_stage_and_rvq_adds_it() -> None:
    assert active_stages(load_job_config("quickstart", QuickstartConfig, [])) == ["collect", "sft", "ppo", "eval"]
    rvq = load_job_config("quickstart", QuickstartConfig, ["sft.continuous_tokenizer=rvq"])
    assert active_stages(rvq) == ["collect", "tokenizer", "sft", "ppo", "eval"]


def test_discrete_only_tasks_need_no_tokenizer() -> None:
    config = load_job_config("quickstart", QuickstartConfig, ["tasks=[babyai:GoToLocal]", "eval.agents=[random,sft]"])
    assert active_stages(config) == ["collect", "sft", "eval"]


def test_an_inline_suite_reaches_the_evaluation(tmp_path: Path) -> None:
    overrides = [f"out_dir={tmp_path}", "suite.name=inline", "suite.tasks=[{env: 'babyai:GoToObj', max_steps: 9}]"]
    evaluation = eval_config(load_job_config("quickstart", QuickstartConfig, overrides))
    assert evaluation.suite.name == "inline"
    assert [(task.env, task.max_steps) for task in evaluation.suite.tasks] == [("babyai:GoToObj", 9)]


def test_unknown_task_names_the_suite_tasks() -> None:
    config = load_job_config("quickstart", QuickstartConfig, ["tasks=[babyai:Nope]"])
    with pytest.raises(ConfigError, match="babyai:GoToLocal"):
        config.selected_tasks()


def test_sampled_gea_agent_repeats_with_its_seed(finished_run: Path) -> None:
    agent = f"gea-sample:{finished_run / 'sft' / 'policy'}"
    assert agent_actions(agent, seed=5, steps=6) == agent_actions(agent, seed=5, steps=6)


def test_reseeding_gives_an_episode_the_same_sampled_actions_whatever_came_before(finished_run: Path) -> None:
    """Common random numbers: evaluation reseeds a GEA agent per episode, so an episode's draws do not depend on
    the episodes before it (or on how much randomness loading the policy used)."""
    import gea.envs
    from gea.rollouts.agents import load_gea_agent
    from gea.rollouts.episodes import run_episode

    agent = load_gea_agent(str(finished_run / "sft" / "policy"), greedy=False)
    env = gea.envs.make("babyai:GoToLocal", image_size=32, view="agent", max_episode_steps=12)

    def play(seed: int) -> list[int]:
        actions: list[int] = []
        agent.reseed(seed)
        run_episode(env, agent, seed, "babyai:GoToLocal", on_step=lambda _o, action, *_: actions.append(int(action)))
        return actions

    first = [play(seed) for seed in range(3, 7)]
    play(8)
    assert [play(seed) for seed in range(3, 7)] == first and sum(map(len, first)) > 4
    env.close()


def test_unknown_agent_label_fails_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quickstart", f"out_dir={tmp_path / 'run'}", "eval.agents=[random,bogus]"]) == 1
    assert "sft+ppo" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_policies_record_the_observations_they_were_trained_with(finished_run: Path) -> None:
    from gea.agents.policy import GEAPolicy, saved_trained_with

    sft = saved_trained_with(finished_run / "sft" / "policy")
    assert sft.options("babyai:GoToLocal") == {"image_size": [32, 32], "view": "agent"}  # the quick suite's view
    assert sft.options("metaworld:reach-v3") == {"image_size": [32, 32], "goal_size": 0.04}  # the suite's marker
    tuned = GEAPolicy.from_pretrained(finished_run / "ppo" / "policy")
    assert tuned.trained_with == sft  # PPO ran on GoToLocal with the same observations
    assert tuned.config.context == 1 and tuned.config.decoding == "sample"


def test_reuse_as_the_readme_shows_gives_the_quickstarts_numbers(
    finished_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`gea eval agents=[gea:OUT/sft/policy]` with the quickstart's episodes and step cap, but no image size and no
    suite options: the policy supplies 32 px, GoToLocal's agent view and reach's goal marker, and acts sampled as it
    records."""
    import gea.envs

    made: dict[str, dict[str, object]] = {}
    real_make = gea.envs.make

    def recording_make(env_id: str, **kwargs: object) -> object:
        made[env_id] = kwargs
        return real_make(env_id, **kwargs)

    monkeypatch.setattr(gea.envs, "make", recording_make)
    quickstart = json.loads((finished_run / "eval" / "results.json").read_text())["episodes"]
    policy = finished_run / "sft" / "policy"
    overrides = [
        "suite.name=reuse",
        "suite.tasks=[{env: 'babyai:GoToLocal'},{env: 'metaworld:reach-v3'}]",
        f"agents=[gea:{policy}]",
        "episodes=1",
        "max_steps=8",
        "videos_per_task=0",
        f"out_dir={tmp_path}",
    ]
    assert main(["eval", *overrides]) == 0
    reused = json.loads((tmp_path / "results.json").read_text())["episodes"]

    def episodes(rows: list[dict[str, object]], agent: str) -> list[tuple[object, ...]]:
        keys = ("env_id", "seed", "success", "episode_return", "length")
        return sorted(tuple(row[key] for key in keys) for row in rows if row["agent"] == agent)

    assert episodes(reused, f"gea:{policy}") == episodes(quickstart, f"gea-sample:{policy}")
    assert len(episodes(reused, f"gea:{policy}")) == 2
    assert made["babyai:GoToLocal"] == {"max_episode_steps": 8, "image_size": [32, 32], "view": "agent"}
    assert made["metaworld:reach-v3"] == {"max_episode_steps": 8, "image_size": [32, 32], "goal_size": 0.04}


def test_a_different_image_size_than_trained_is_warned_about(finished_run: Path, tmp_path: Path) -> None:
    from gea.agents.trained_with import TrainingMismatchWarning
    from gea.rollouts.evaluate import EvalConfig, evaluate_with_progress
    from gea.rollouts.suites import SuiteConfig, SuiteTask

    suite = SuiteConfig("mismatch", [SuiteTask("babyai:GoToLocal", episodes=1, max_steps=2)])
    agent = f"gea:{finished_run / 'sft' / 'policy'}"
    config = EvalConfig(suite=suite, agents=[agent], image_size=48, videos_per_task=0, out_dir=str(tmp_path))
    with pytest.warns(TrainingMismatchWarning, match=r"trained with image_size=32 px .* asks for image_size=48 px"):
        evaluate_with_progress(config)


@pytest.mark.parametrize(("decoding", "same_as"), [("sample", "gea-sample"), ("greedy", "gea-greedy")])
def test_gea_agent_acts_as_the_policy_records(finished_run: Path, tmp_path: Path, decoding: str, same_as: str) -> None:
    from gea.agents.policy import GEAPolicy

    policy = GEAPolicy.from_pretrained(finished_run / "sft" / "policy")
    policy.config.decoding = decoding
    policy.save_pretrained(tmp_path / "policy")
    played = {
        name: agent_actions(f"{name}:{tmp_path / 'policy'}", seed=5, steps=12, view="agent")
        for name in ("gea", same_as)
    }
    assert played["gea"] == played[same_as]


def test_ppo_from_a_policy_uses_its_training_observations(finished_run: Path) -> None:
    from gea.agents.config import MLLMPolicyConfig
    from gea.agents.trained_with import TrainingMismatchWarning
    from gea.train.ppo.config import PPOConfig
    from gea.train.ppo.run import rank_env_kwargs

    policy = MLLMPolicyConfig(path=str(finished_run / "sft" / "policy"))
    envs = ["babyai:GoToLocal"] * 2
    assert rank_env_kwargs(PPOConfig(policy=policy, envs=envs[:1]), envs) == {"image_size": [32, 32], "view": "agent"}
    asked = PPOConfig(policy=policy, envs=envs[:1], image_size=64)
    with pytest.warns(TrainingMismatchWarning, match="gea ppo"):
        assert rank_env_kwargs(asked, envs) == {"image_size": 64, "view": "agent"}
    mixed = ["babyai:GoToLocal", "metaworld:reach-v3"]  # only what both envs share applies to the one vector env
    assert rank_env_kwargs(PPOConfig(policy=policy, envs=mixed), mixed) == {"image_size": [32, 32]}
    assert rank_env_kwargs(PPOConfig(envs=envs[:1]), envs) == {"image_size": 64}  # no GEA policy: the default
