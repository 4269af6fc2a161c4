"""Every job's options come from its schema: `--help` is generated from it, and bad input fails before any work
with a message that names the fix (did-you-mean for nested keys, the expected type, the valid range)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import gea.envs
from gea.cli import main
from gea.config import load_job_config
from gea.config_help import help_text
from gea.errors import ConfigError
from gea.quickstart import QuickstartConfig
from gea.rollouts.collect import CollectConfig
from gea.rollouts.evaluate import EvalConfig
from gea.schema import walk
from gea.tokenizers.fit import TokenizerFitConfig
from gea.train.experts.config import ExpertTrainConfig
from gea.train.ppo.config import PPOConfig
from gea.train.sft.config import SFTConfig

# (command line, job, schema, command module, help function: None = help_text(job, schema, USAGE, ABOUT))
COMMANDS = [
    (["collect"], "collect", CollectConfig, "gea.commands.collect"),
    (["eval"], "eval", EvalConfig, "gea.commands.evaluate"),
    (["ppo"], "ppo", PPOConfig, "gea.commands.ppo"),
    (["quickstart"], "quickstart", QuickstartConfig, "gea.commands.quickstart"),
    (["sft"], "sft", SFTConfig, "gea.commands.sft"),
    (["tokenizer", "fit"], "tokenizer_fit", TokenizerFitConfig, "gea.commands.tokenizer"),
    (["expert", "train"], "expert_train", ExpertTrainConfig, "gea.commands.expert"),
]


@pytest.mark.parametrize(("command", "job", "schema", "module"), COMMANDS, ids=[c[1] for c in COMMANDS])
def test_help_is_generated_from_the_schema(
    command: list[str], job: str, schema: type, module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--help"]) == 0
    printed = capsys.readouterr().out
    commands = importlib.import_module(module)
    assert printed.strip() == help_text(job, schema, commands.USAGE, commands.ABOUT).strip()
    for option in walk(schema):
        assert option.help, f"{option.owner.__name__}.{option.name} has no help text"
        assert re.search(rf"^  {re.escape(option.key)}=", printed, flags=re.MULTILINE), option.key
        assert option.help.split()[0].replace("``", "`") in printed, option.key
    listed = set(re.findall(r"^  ([\w.@]+)=", printed, flags=re.MULTILINE))
    groups = {key for key in listed if "@" in key or key in ("suite", "tokenizer", "policy")}
    assert listed - groups <= {option.key for option in walk(schema)}  # nothing that the schema does not have


def test_help_shows_the_composed_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ppo", "--help"]) == 0
    printed = capsys.readouterr().out
    assert "\n  lr=0.001 " in printed and "\n  image_size=8 " in printed  # the cartpole recipe's values
    assert "\n  policy=small " in printed and "policy.lora.rank=128" in printed
    assert main(["tokenizer", "fit", "--help"]) == 0
    assert "\n  data=(required) " in capsys.readouterr().out


def test_eval_help_lists_only_suites_that_exist(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--help"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    listed = re.search(r"suite=quick one of (.*?) \(files in", printed)
    assert listed is not None
    suites = listed.group(1).split(", ")
    folder = Path(gea.config_help.__file__).parent / "configs" / "suite"
    assert sorted(suites) == sorted(path.stem for path in folder.glob("*.yaml")) and "metaworld" not in suites


BAD_INPUT = [
    ("collect", CollectConfig, ["image_size=0"], r"image_size=0: must be at least 1 .* e\.g\. image_size=64"),
    ("collect", CollectConfig, ["image_size=-1"], r"image_size=-1: must be at least 1 .* e\.g\. image_size=64"),
    ("collect", CollectConfig, ["image_size=2.5"], r"image_size=2\.5: image_size takes a whole number"),
    ("collect", CollectConfig, ["episodes_per_task=abc"], r"episodes_per_task=abc: .*takes a whole number"),
    ("collect", CollectConfig, ["progress=maybe"], r"progress=maybe: progress takes true or false"),
    ("sft", SFTConfig, ["optim.learning_rate=1e-3"], r"did you mean optim\.lr\?\nValid keys under optim: lr, "),
    ("sft", SFTConfig, ["stpes=3"], r"did you mean steps\?\nValid top-level keys"),
    ("quickstart", QuickstartConfig, ["sft.stpes=10"], r"unknown option 'sft\.stpes'; did you mean sft\.steps\?"),
    ("ppo", PPOConfig, ["policy=mllm", "policy.lora_rank=4"], r"did you mean policy\.lora\.rank\?"),
    ("ppo", PPOConfig, ["policy.kind=mllm"], r"pick the kind itself with policy=small\|mllm"),
    ("collect", CollectConfig, ["env_kwargs.view=agent"], r"add an entry to it with \+env_kwargs\.view=VALUE"),
    ("collect", CollectConfig, ["+episodes=3"], r"unknown option 'episodes'"),
    ("eval", EvalConfig, ["suite=metaworld"], r"no such suite \(did you mean metaworld_mt45"),
    ("eval", EvalConfig, ["suite.tasks=[{env: cartpole, episdes: 1}]"], r"did you mean suite\.tasks\.episodes\?"),
    ("sft", SFTConfig, ["strategy=zero"], r"strategy=zero: choose one of ddp, fsdp"),
    ("tokenizer_fit", TokenizerFitConfig, [], r"`gea tokenizer fit` needs data=\.\.\."),
]


@pytest.mark.parametrize(("job", "schema", "overrides", "message"), BAD_INPUT, ids=[" ".join(b[2]) for b in BAD_INPUT])
def test_bad_input_names_the_fix(job: str, schema: type, overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_job_config(job, schema, overrides)


@pytest.mark.parametrize("size", [0, -1, 2.5, True, (0, 8)])
def test_make_rejects_image_sizes_that_are_not_positive_whole_numbers(size: object) -> None:
    with pytest.raises(ConfigError, match=r"positive whole number .* e\.g\. image_size=64"):
        gea.envs.make("cartpole", image_size=size)
    assert gea.envs.make("cartpole", image_size=(12, 20)).reset(seed=0)[0]["image"].shape == (12, 20, 3)


@pytest.mark.parametrize(
    ("agents", "message"),
    [
        ('[random,"gea:/no/such/policy"]', "/no/such/policy does not exist; give a policy folder"),
        ('[random,"sb3:/no/such.zip"]', "/no/such.zip does not exist"),
        ("[random,robot]", "unknown agent 'robot'"),
    ],
)
def test_eval_checks_agents_before_any_work(
    agents: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["eval", "suite.tasks=[{env: cartpole, episodes: 1}]", f"agents={agents}", f"out_dir={tmp_path / 'out'}"]
    assert main(args) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # no config.yaml, no result of the agents that would have played first


def test_eval_checks_env_ids_before_writing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "suite.tasks=[{env: cartpol, episodes: 1}]", f"out_dir={tmp_path / 'out'}"]) == 1
    assert "Did you mean: cartpole" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_eval_knows_the_policy_file_name() -> None:
    from gea.agents.policy import POLICY_FILE
    from gea.rollouts.agents import GEA_POLICY_FILE

    assert GEA_POLICY_FILE == POLICY_FILE


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["ppo", "policy=mllm", "policy.path=/no/such/policy"], "policy.path=/no/such/policy does not exist"),
        (["ppo", "policy.path=/no/such/net"], "policy.path=/no/such/net does not exist"),
    ],
)
def test_ppo_checks_the_policy_path_before_starting_envs(
    command: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, f"out_dir={tmp_path / 'out'}", "progress=false"]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_sft_checks_init_before_building(tmp_path: Path) -> None:
    from gea.train.sft.setup import build_policy

    config = load_job_config("sft", SFTConfig, ["init=/no/such/policy", "data.paths=[unused]"])
    with pytest.raises(ConfigError, match="init=/no/such/policy does not exist; give a policy folder"):
        build_policy(config, ["babyai:GoToLocal"])
