"""Schema of ``gea expert train`` and its per-game recipe table (``gea/configs/expert_recipes.yaml``).

A run's settings come from four layers, later ones winning: the schema's defaults (``ExpertTrainConfig``; the job
file ``gea/configs/expert_train.yaml`` holds only what differs), the recipe of the env's family (``procgen``,
``atari``), the recipe of the env id itself, and the command line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gea.config import load_job_config
from gea.envs.contract import DEFAULT_IMAGE_SIZE
from gea.errors import ConfigError
from gea.schema import check_values, option

BACKENDS = ("ppo", "sb3")
ENCODERS = ("cnn", "impala")
ACT_CHOICES = ("auto", "greedy", "sample")
PRECISIONS = ("auto", "float32", "bfloat16")
RECIPES_FILE = "expert_recipes.yaml"


@dataclass
class ExpertTrainConfig:
    """Settings of one expert training run (``gea expert --help`` lists them with their defaults).

    ``entropy_coef`` weighs the entropy divided by its maximum (``log(number of actions)``), as ``gea ppo`` does.
    ``bootstrap_truncated=false`` treats an episode cut off by the env's time limit as ended (no value bootstrapped
    past it), as Procgen's own training does: its level timeouts are part of the game, and bootstrapping them
    rewards an agent for stalling until time runs out. Evaluation: with ``act=auto`` the expert plays
    ``select_episodes`` episodes greedily and by sampling on seeds from ``select_seed`` and keeps the better mode;
    then it and a uniformly random policy play ``eval_episodes`` episodes on held-out seeds from ``eval_seed``
    (no training env is ever reset to these seeds).
    """

    env_id: str = option("", "the env to train on (the first argument of gea expert train)")
    backend: str = option("ppo", "ppo: the project's PPO (resumable); sb3: Stable-Baselines3 PPO", choices=BACKENDS)
    total_steps: int = option(500_000, "env steps of training (raise it and rerun to train a run further)", minimum=1)
    num_envs: int = option(8, "envs stepped together", minimum=1)
    rollout_steps: int = option(128, "steps per env per update", minimum=1)
    epochs: int = option(3, "passes over each rollout", minimum=1)
    minibatches: int = option(4, "minibatches per pass (must divide num_envs x rollout_steps)", minimum=1)
    lr: float = option(5e-4, "Adam learning rate", minimum=0)
    gamma: float = option(0.99, "discount factor", minimum=0)
    gae_lambda: float = option(0.95, "GAE lambda", minimum=0)
    clip: float = option(0.2, "PPO clip range", minimum=0)
    entropy_coef: float = option(
        0.027, "weight of entropy / log(actions) (0.027 = SB3's 0.01 with 15 actions)", minimum=0
    )
    value_coef: float = option(
        0.5, "value loss weight (the loss is half the squared error: SB3 vf_coef = value_coef / 2)", minimum=0
    )
    max_grad_norm: float = option(0.5, "gradient norm clip", minimum=0)
    bootstrap_truncated: bool = option(True, "bootstrap values past time-limit truncations (false: they end there)")
    encoder: str = option("cnn", "cnn: Nature CNN; impala: IMPALA-style residual CNN", choices=ENCODERS)
    cnn_features: int = option(128, "width of the layer after the CNN", minimum=1)
    popart: bool = option(False, "PopArt-normalized critic (ppo backend)")
    skip_duplicate_actions: bool = option(
        False, "never take an action named '<base> (key X)', a repeat of <base> (Procgen's unused keys)"
    )
    precision: str = option(
        "auto",
        "dtype of the CNN's compute when training (auto: bfloat16 where the CPU or GPU computes it natively)",
        choices=PRECISIONS,
    )
    frame_stack: int = option(1, "images stacked along channels as the policy's input", minimum=1)
    image_size: int = option(DEFAULT_IMAGE_SIZE, "observation images are image_size x image_size pixels", minimum=1)
    clip_rewards: bool = option(False, "train on the sign of the reward (sb3 backend; ppo: use popart)")
    env_kwargs: dict[str, Any] = option(factory=dict, help="adapter options for training and evaluation")
    train_env_kwargs: dict[str, Any] = option(
        factory=dict, help="adapter options for training only, e.g. +train_env_kwargs.terminal_on_life_loss=true"
    )
    asynchronous: bool = option(False, "step the training envs in worker processes")
    seed: int = option(0, "seed of training")
    threads: int = option(1, "torch CPU threads (0: torch's default; 1 avoids oversubscription)", minimum=0)
    resume: bool = option(True, "continue the run found in the expert folder (false: start over)")
    checkpoint_every: int = option(10, "updates between checkpoints", minimum=1)
    act: str = option("auto", "how the expert acts: greedy, sample, or auto (the better one)", choices=ACT_CHOICES)
    select_episodes: int = option(10, "episodes per mode to pick the acting mode (act=auto)", minimum=0)
    select_seed: int = option(6_500_000, "first seed of the selection episodes")
    eval_episodes: int = option(50, "held-out episodes of the expert and of a random policy", minimum=1)
    eval_seed: int = option(5_500_000, "first seed of the held-out episodes")
    eval_max_steps: int = option(0, "step limit of an evaluation episode (0: the env's own)", minimum=0)
    dtype: str = option("float16", "type of the saved weights", choices=("float16", "float32"))
    progress: bool = option(True, "show progress bars")
    out_dir: str = option("", "where the expert is saved (empty: $GEA_EXPERTS_DIR, else ~/.cache/gea/experts)")
    imports: list[str] = option(
        factory=list, help="your modules that register envs and experts (workers import them too)"
    )

    def __post_init__(self) -> None:
        if (self.num_envs * self.rollout_steps) % self.minibatches:
            raise ConfigError(
                f"num_envs x rollout_steps = {self.num_envs * self.rollout_steps} is not divisible by "
                f"minibatches={self.minibatches}; change one of them"
            )
        if self.backend == "ppo" and self.clip_rewards:
            raise ConfigError("clip_rewards is an sb3 option; backend=ppo normalizes returns with PopArt instead")
        if self.backend == "sb3" and (self.encoder != "cnn" or self.popart or self.precision == "bfloat16"):
            raise ConfigError(
                "backend=sb3 trains SB3's CnnPolicy (encoder=cnn, no PopArt, float32); use backend=ppo for those"
            )


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
    check_values(config)
    return config


def as_dict(config: ExpertTrainConfig) -> dict[str, Any]:
    """The config as a plain dict (for ``expert.json``)."""
    return dataclasses.asdict(config)
