"""Every shipped suite composes against the schema and names only registered environments."""

from importlib.resources import files
from pathlib import Path

import pytest

import gea.envs
from gea.config import load_job_config
from gea.errors import MissingDependencyError
from gea.rollouts.evaluate import EvalConfig, plan_runs
from gea.rollouts.suites import SuiteConfig, SuiteTask

SUITES = sorted(p.stem for p in Path(str(files("gea") / "configs" / "suite")).glob("*.yaml"))


def test_the_expected_suites_ship() -> None:
    expected = {"quick", "gea", "metaworld_mt45", "metaworld_ml45_test", "babyai", "procgen", "atari", "miniwob"}
    assert expected <= set(SUITES)


@pytest.mark.parametrize("suite", SUITES)
def test_suite_composes_and_ids_are_registered(suite: str) -> None:
    config = load_job_config("eval", EvalConfig, [f"suite={suite}", "episodes=1"])
    assert config.suite.tasks, suite
    for task in config.suite.tasks:
        gea.envs.spec(task.env)  # raises UnknownEnvError for a typo
    runs, skipped = plan_runs(config)
    assert all(run.task.episodes == 1 for run in runs)
    assert all(task.optional for task in skipped)


def test_gea_suite_marks_habitat_optional() -> None:
    config = load_job_config("eval", EvalConfig, ["suite=gea"])
    habitat = [task for task in config.suite.tasks if task.env.startswith("habitat:")]
    assert habitat and all(task.optional for task in habitat)
    domains = {gea.envs.spec(task.env).domain for task in config.suite.tasks}
    assert domains == {"manipulation", "navigation", "game", "ui", "planning"}


def test_missing_simulator_for_required_task_names_the_extra() -> None:
    spec = gea.envs.EmbodimentSpec(
        id="test:suite-missing",
        domain="game",
        action=gea.envs.DiscreteActions(("noop",)),
        description="d",
        simulator="s",
        extra="absent",
    )
    gea.envs.register(spec, requires=("module_that_does_not_exist_43",))(lambda **kw: None)
    required = EvalConfig(suite=SuiteConfig("t", [SuiteTask("test:suite-missing")]))
    with pytest.raises(MissingDependencyError, match=r"gea\[absent\]"):
        plan_runs(required)
    optional = EvalConfig(suite=SuiteConfig("t", [SuiteTask("test:suite-missing", optional=True)]))
    assert plan_runs(optional) == ([], [SuiteTask("test:suite-missing", optional=True)])
