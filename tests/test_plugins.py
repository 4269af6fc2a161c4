"""Plugins: environments and experts registered outside the package reach every command and worker process.

The user module is the README's own example (``my_corridor.py``), written to a folder outside the package and run
through the ``gea`` console script, whose search path does not start with the current folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from readme_plugin import gea_env, readme_plugin, run_gea

from gea.plugins import split_imports
from gea.rollouts.dataset import DatasetMeta


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside the package holding the README's ``my_corridor.py``."""
    folder = tmp_path_factory.mktemp("user")
    (folder / "my_corridor.py").write_text(readme_plugin())
    return folder


def test_envs_list_sees_a_user_module_only_through_imports(user_folder: Path) -> None:
    listed = run_gea(["envs", "list", "imports=[my_corridor]", "--contains", "corridor"], user_folder)
    assert listed.returncode == 0, listed.stderr
    assert "corridor:walk" in listed.stdout and "1 environments" in listed.stdout
    plain = run_gea(["envs", "list", "--contains", "corridor"], user_folder)
    assert plain.returncode == 0 and "0 environments" in plain.stdout


def test_collect_with_two_workers_uses_the_user_env_and_expert(user_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "corridor"
    args = ["collect", "imports=[my_corridor]", "envs=[corridor:walk]", "episodes_per_task=6", "num_envs=2"]
    done = run_gea([*args, "image_size=16", f"out={out}", "progress=false"], user_folder)
    assert done.returncode == 0, done.stderr
    assert "corridor:walk: expert success 6/6" in done.stdout
    meta = DatasetMeta.load(out)
    assert meta.num_episodes == 6 and set(meta.episodes["embodiment"].to_pylist()) == {"corridor:walk"}
    assert yaml.safe_load((out / "meta" / "collect.yaml").read_text())["imports"] == ["my_corridor"]


def test_eval_with_two_workers_uses_the_user_env_and_expert(user_folder: Path, tmp_path: Path) -> None:
    args = ["eval", "imports=[my_corridor]", 'suite.tasks=[{env: "corridor:walk", episodes: 3}]', "num_workers=2"]
    done = run_gea([*args, "agents=[random,expert]", "videos_per_task=0", f"out_dir={tmp_path}"], user_folder)
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    success = {(task["agent"], task["env_id"]): task["success_rate"] for task in results["tasks"]}
    assert success[("expert", "corridor:walk")] == 1.0 and ("random", "corridor:walk") in success
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["imports"] == ["my_corridor"]


def write_distribution(site: Path, name: str, module: str, source: str) -> None:
    """Install (by hand, as pip would lay it out) a distribution whose ``gea.plugins`` entry point is ``module``."""
    package = site / module.split(".")[0]
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (site / (module.replace(".", "/") + ".py")).write_text(source)
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[gea.plugins]\n{name} = {module}\n")


def test_an_installed_entry_point_registers_in_every_process(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_distribution(site, "corridor_pkg", "corridor_pkg.envs", readme_plugin())
    listed = run_gea(["envs", "list", "--contains", "corridor"], tmp_path, extra_path=str(site))
    assert listed.returncode == 0, listed.stderr
    assert "corridor:walk" in listed.stdout
    code = (
        "import gea.envs\n"
        "from gea.agents.experts import has_expert\n"
        "if __name__ == '__main__':\n"
        "    envs = gea.envs.make_vec('corridor:walk', 2, num_workers=2, seed=0, image_size=16)\n"
        "    envs.reset()\n"
        "    _, rewards, terminated, truncated, _ = envs.step([1, 1])\n"
        "    envs.close()\n"
        "    print('workers stepped', len(rewards), 'expert', has_expert('corridor:walk'))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=gea_env(str(site)), capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert "workers stepped 2 expert True" in run.stdout


def test_a_broken_entry_point_names_its_distribution(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_distribution(site, "broken_pkg", "broken_pkg.envs", "raise RuntimeError('this plugin is broken')\n")
    listed = run_gea(["envs", "list"], tmp_path, extra_path=str(site))
    assert listed.returncode == 1
    assert "entry point 'broken_pkg' of broken_pkg 1.0" in listed.stderr and "this plugin is broken" in listed.stderr


@pytest.mark.parametrize(
    ("source", "fragments"),
    [
        (None, ["no module named 'my_plugin'", "PYTHONPATH"]),
        ("import a_dependency_that_is_not_installed\n", ["importing 'my_plugin' failed", "a_dependency_that_is_not"]),
    ],
)
def test_a_bad_import_is_a_clear_error(tmp_path: Path, source: str | None, fragments: list[str]) -> None:
    if source is not None:
        (tmp_path / "my_plugin.py").write_text(source)
    done = run_gea(["envs", "list", "imports=[my_plugin]"], tmp_path)
    assert done.returncode == 1
    assert all(fragment in done.stderr for fragment in fragments), done.stderr


@pytest.mark.parametrize(
    ("argv", "modules", "rest"),
    [
        (["imports=[a,b.c]", "x=1"], ["a", "b.c"], ["x=1"]),
        (["list", "imports=a"], ["a"], ["list"]),
        (["imports=['a', \"b\"]", "imports=[c]"], ["a", "b", "c"], []),
        (["imports=[]", "--imports", "my_imports=[z]"], [], ["--imports", "my_imports=[z]"]),
    ],
)
def test_split_imports(argv: list[str], modules: list[str], rest: list[str]) -> None:
    assert split_imports(argv) == (modules, rest)
