"""Schema of ``gea expert train`` and its per-game recipe table (``gea/configs/expert_recipes.yaml``).

A run's settings come from four layers, later ones winning: the schema's defaults (``ExpertTrainConfig``, echoed
in ``gea/configs/expert_train.yaml``), the recipe of the env's family (``procgen``, ``atari``), the recipe of the
env id itself, and the command line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gea.config import load_job_config
from gea.errors import ConfigError

BACKENDS = ("ppo", "sb3")
ENCODERS = ("cnn", "impala")
ACT_CHOICES = ("auto", "greedy", "sample")
RECIPES_FILE = "expert_recipes.yaml"


@dataclass
class ExpertTrainConfig:
    """Settings of one expert training run (see ``gea expert train --help``).

    ``backend``: ``ppo`` (the project's PPO on vector envs, resumable) or ``sb3`` (Stable-Baselines3 PPO
    ``CnnPolicy``). PPO settings use the names of ``gea ppo``; ``entropy_coef`` weighs the entropy divided by its
    maximum (``log(number of actions)``), as ``gea ppo`` does. ``encoder``: ``cnn`` (Nature CNN) or ``impala``
    (IMPALA-style residual CNN), then a ``cnn_features``-unit layer; ``popart`` puts a PopArt layer on the critic.
    ``bootstrap_truncated=false`` treats an episode cut off by the env's time limit as ended (no value bootstrapped
    past it), as Procgen's own training does: its level timeouts are part of the game, and bootstrapping them
    rewards an agent for stalling until time runs out. ``env_kwargs`` go to ``gea.envs.make`` for training and
    evaluation, ``train_env_kwargs`` for training only (e.g. Atari ``terminal_on_life_loss``).

    Evaluation: the expert acts ``greedy`` or ``sample``; ``auto`` plays ``select_episodes`` episodes each way on
    seeds from ``select_seed`` and keeps the better. Then the expert and a uniformly random policy play
    ``eval_episodes`` episodes on held-out seeds from ``eval_seed`` (training never resets to these seeds).
    ``eval_max_steps`` caps evaluation episodes (0: the env's own limit). ``dtype`` is the saved weights' type.
    ``out_dir`` "" means the experts folder (``$GEA_EXPERTS_DIR``); ``resume`` continues the run found there.
    """

    env_id: str = ""
    backend: str = "ppo"
    total_steps: int = 500_000
    num_envs: int = 8
    rollout_steps: int = 128
    epochs: int = 3
    minibatches: int = 4
    lr: float = 5e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    entropy_coef: float = 0.027
    value_coef: float = 0.5
    max_grad_norm: float = 0.5
    bootstrap_truncated: bool = True
    encoder: str = "cnn"
    cnn_features: int = 128
    popart: bool = False
    frame_stack: int = 1
    image_size: int = 64
    clip_rewards: bool = False
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    train_env_kwargs: dict[str, Any] = field(default_factory=dict)
    asynchronous: bool = False
    seed: int = 0
    threads: int = 1
    resume: bool = True
    checkpoint_every: int = 10
    act: str = "auto"
    select_episodes: int = 10
    select_seed: int = 6_500_000
    eval_episodes: int = 50
    eval_seed: int = 5_500_000
    eval_max_steps: int = 0
    dtype: str = "float16"
    progress: bool = True
    out_dir: str = ""

    def __post_init__(self) -> None:
        for name, value, choices in (
            ("backend", self.backend, BACKENDS),
            ("encoder", self.encoder, ENCODERS),
            ("act", self.act, ACT_CHOICES),
            ("dtype", self.dtype, ("float16", "float32")),
        ):
            if value not in choices:
                raise ConfigError(f"{name} must be one of {choices}, got {value!r}")
        if self.frame_stack < 1:
            raise ConfigError(f"frame_stack must be >= 1, got {self.frame_stack}")
        if (self.num_envs * self.rollout_steps) % self.minibatches:
            raise ConfigError(
                f"num_envs x rollout_steps = {self.num_envs * self.rollout_steps} is not divisible by "
                f"minibatches={self.minibatches}; change one of them"
            )
        if self.backend == "ppo" and self.clip_rewards:
            raise ConfigError("clip_rewards is an sb3 option; backend=ppo normalizes returns with PopArt instead")
        if self.backend == "sb3" and (self.encoder != "cnn" or self.popart):
            raise ConfigError("backend=sb3 trains SB3's CnnPolicy (encoder=cnn, no PopArt); use backend=ppo for those")


def recipe_table() -> dict[str, Any]:
    """The recipe table: ``families`` (family -> settings) and ``games`` (env id -> settings)."""
    table = OmegaConf.to_container(OmegaConf.load(str(files("gea.configs") / RECIPES_FILE)))
    assert isinstance(table, dict)
    return {"families": table.get("families") or {}, "games": table.get("games") or {}}


def recipe_for(env_id: str) -> dict[str, Any]:
    """The recipe settings of ``env_id``: its family's, updated by its own (nested dicts are merged)."""
    table = recipe_table()
    family = env_id.partition(":")[0]
    merged = OmegaConf.merge(table["families"].get(family, {}), table["games"].get(env_id, {}))
    return OmegaConf.to_container(merged)  # type: ignore[return-value]


def _override_paths(overrides: Sequence[str]) -> list[str]:
    """The config paths that command-line overrides set (``+env_kwargs.num_levels=3`` -> ``env_kwargs.num_levels``)."""
    return [override.key_or_group for override in OverridesParser.create().parse_overrides(list(overrides))]


def load_expert_config(env_id: str, overrides: Sequence[str] = ()) -> ExpertTrainConfig:
    """The settings of ``gea expert train ENV_ID [overrides]``: defaults, then the recipe, then ``overrides``."""
    from_command_line = load_job_config("expert_train", ExpertTrainConfig, [f"env_id={env_id}", *overrides])
    defaults = load_job_config("expert_train", ExpertTrainConfig, [f"env_id={env_id}"])
    merged: DictConfig = OmegaConf.structured(defaults)
    try:
        merged = OmegaConf.merge(merged, recipe_for(env_id))  # type: ignore[assignment]
    except OmegaConfBaseException as error:
        raise ConfigError(f"the recipe of {env_id} in gea/configs/{RECIPES_FILE} is invalid: {error}") from error
    chosen = OmegaConf.structured(from_command_line)
    for path in _override_paths(overrides):
        OmegaConf.update(merged, path, OmegaConf.select(chosen, path), merge=False, force_add=True)
    config = OmegaConf.to_object(merged)
    assert isinstance(config, ExpertTrainConfig)
    return config


def as_dict(config: ExpertTrainConfig) -> dict[str, Any]:
    """The config as a plain dict (for ``expert.json``)."""
    return dataclasses.asdict(config)
