"""The `gea` dispatcher, `gea envs` and `gea eval` on the always-available CartPole adapter."""

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from gea.cli import main


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "envs" in capsys.readouterr().out


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nope"]) == 2
    assert "unknown command" in capsys.readouterr().err


def test_envs_list_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["envs", "list", "--contains", "cart"]) == 0
    assert "cartpole" in capsys.readouterr().out
    png = tmp_path / "frame.png"
    assert main(["envs", "show", "cartpole", "--out", str(png), "--image-size", "48"]) == 0
    assert "push left" in capsys.readouterr().out
    assert Image.open(png).size == (48, 48)


def test_envs_show_unknown_id_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["envs", "show", "cartpol"]) == 1
    assert "Did you mean: cartpole" in capsys.readouterr().err


def test_eval_writes_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "eval",
        "suite.tasks=[{env: cartpole, episodes: 2}]",
        f"out_dir={tmp_path}",
        "agents=[random]",
        "videos_per_task=0",
    ]
    assert main(args) == 0
    assert "cartpole" in capsys.readouterr().out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["tasks"][0]["episodes"] == 2
    for name in ("config.yaml", "results.csv", "report.md", "plots/game.png"):
        assert (tmp_path / name).exists(), name
    assert main(["report", "show", str(tmp_path)]) == 0
    assert main(["report", "compare", str(tmp_path), str(tmp_path / "results.json")]) == 0
    assert "+0" in capsys.readouterr().out


def test_eval_typo_in_key_fails_early(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "sed=1"]) == 1
    err = capsys.readouterr().err
    assert "sed" in err and "Valid top-level keys" in err


def test_expert_list_shows_shipped_trained_and_builtin_experts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from gea.agents.experts.net_expert import PACKAGED_EXPERTS_DIR

    monkeypatch.setenv("GEA_EXPERTS_DIR", str(tmp_path / "empty"))
    assert main(["expert", "list"]) == 0
    listed = capsys.readouterr().out
    assert re.search(r"procgen:coinrun +shipped +200192", listed) and re.search(r"atari:RoadRunner +shipped", listed)
    assert "babyai_bot" in listed and "metaworld:*" in listed and "miniworld: Hallway" in listed
    shutil.copytree(PACKAGED_EXPERTS_DIR / "procgen-coinrun", tmp_path / "mine" / "procgen-coinrun")
    monkeypatch.setenv("GEA_EXPERTS_DIR", str(tmp_path / "mine"))
    assert main(["expert", "list"]) == 0
    listed = capsys.readouterr().out
    assert re.search(r"procgen:coinrun +shipped, replaced by the trained one", listed)
    assert re.search(rf"procgen:coinrun +trained .*{tmp_path / 'mine' / 'procgen-coinrun'}", listed)
