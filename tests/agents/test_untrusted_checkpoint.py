"""A hostile GEA checkpoint (it asks for trust_remote_code and ships model code) runs nothing through any command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gea.agents.config import PolicyConfig
from gea.agents.policy import MODEL_DIR, POLICY_FILE, GEAPolicy
from gea.cli import main as gea_main
from gea.rollouts.collect import CollectConfig, collect

ENV = "babyai:GoToRedBallNoDists"


def write_hostile_checkpoint(folder: Path, marker: Path) -> None:
    """A real tiny policy whose JSON sets trust_remote_code and whose model folder maps its classes to a module
    that writes ``marker`` when imported."""
    GEAPolicy.build(PolicyConfig(), [ENV]).save_pretrained(folder)
    (folder / MODEL_DIR / "hostile.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "from transformers import PretrainedConfig\n"
        "class HostileConfig(PretrainedConfig):\n    model_type = 'gea_hostile'\n"
    )
    model_config = json.loads((folder / MODEL_DIR / "config.json").read_text())
    model_config["model_type"] = "gea_hostile"
    model_config["auto_map"] = {"AutoConfig": "hostile.HostileConfig", "AutoModelForImageTextToText": "hostile.Model"}
    (folder / MODEL_DIR / "config.json").write_text(json.dumps(model_config))
    meta = json.loads((folder / POLICY_FILE).read_text())
    meta["config"]["trust_remote_code"] = True
    (folder / POLICY_FILE).write_text(json.dumps(meta))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("hostile")
    write_hostile_checkpoint(root / "policy", root / "executed")
    return root / "policy", root / "executed"


def test_saved_policies_never_record_trust(tmp_path: Path) -> None:
    GEAPolicy.build(PolicyConfig(trust_remote_code=True), [ENV]).save_pretrained(tmp_path)
    assert json.loads((tmp_path / POLICY_FILE).read_text())["config"]["trust_remote_code"] is False


def test_loading_a_hostile_checkpoint_runs_nothing(hostile: tuple[Path, Path]) -> None:
    folder, marker = hostile
    with pytest.warns(UserWarning, match="asks for trust_remote_code; ignored"), pytest.raises(Exception) as error:
        GEAPolicy.from_pretrained(folder)
    assert "trust_remote_code=True" in str(error.value)
    assert not marker.exists()


def _commands(folder: Path, data: Path, out: Path) -> dict[str, list[str]]:
    return {
        "eval": ["eval", f"agents=[gea:{folder}]", "suite.name=one", f"suite.tasks=[{{env: {ENV}, episodes: 1}}]",
                 "videos_per_task=0", f"out_dir={out / 'eval'}"],
        "sft": ["sft", f"init={folder}", f"data.paths=[{data}]", "steps=1", "batch_size=2", "device=cpu",
                "progress=false", f"out_dir={out / 'sft'}"],
        "ppo": ["ppo", "ppo_recipe@_global_=gea", "policy=mllm", f"policy.path={folder}", f"envs=[{ENV}]",
                "num_envs=1", "rollout_steps=2", "total_steps=2", "minibatches=1", "progress=false",
                f"out_dir={out / 'ppo'}"],
    }  # fmt: skip


@pytest.mark.parametrize("command", ["eval", "sft", "ppo"])
def test_commands_refuse_a_hostile_checkpoint(
    command: str, hostile: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, marker = hostile
    data = tmp_path / "data"
    if command == "sft":
        collect(CollectConfig(envs=[ENV], episodes_per_task=2, out=str(data), num_envs=0, progress=False))
    with pytest.warns(UserWarning, match="asks for trust_remote_code; ignored"):
        code = gea_main(_commands(folder, data, tmp_path)[command])
    assert code == 1
    assert "ships its own model code" in capsys.readouterr().err
    assert not marker.exists()
