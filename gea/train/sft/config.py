"""Structured configuration of ``gea sft`` (the Hydra schema of ``gea/configs/sft.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass

from gea.agents.config import PolicyConfig
from gea.errors import ConfigError
from gea.schema import check_values, option

STRATEGIES = ("ddp", "fsdp")


@dataclass
class DataConfig:
    """Which episode datasets to train on and how to mix them.

    ``paths``: dataset folders written by ``gea collect``; ``weights``: their sampling weights (empty = equal).
    Streams are (dataset, embodiment) pairs, each drawn with probability dataset weight x embodiment weight;
    ``embodiment_weights`` holds ``"ENV_ID=WEIGHT"`` entries (default weight 1), e.g. ``["babyai:GoTo=3"]``.
    """

    paths: list[str] = option(factory=list, help="dataset folders written by gea collect")
    weights: list[float] = option(factory=list, help="sampling weight of each dataset (empty: equal)")
    embodiment_weights: list[str] = option(
        factory=list, help='ENV_ID=WEIGHT entries (default weight 1), e.g. ["babyai:GoTo=3"]'
    )
    block_row_groups: int = option(2, "row groups read as one block per stream (shuffle granularity)", minimum=1)
    prefetch: bool = option(
        False,
        "prepare the next step's batches (and frozen-tower image features) in a background thread: pays when a CPU "
        "core is idle (GPU training); on saturated CPU cores it costs ~5% more CPU time",
    )

    def weighted_paths(self) -> dict[str, float]:
        """``{path: weight}`` for the reader."""
        if not self.paths:
            raise ConfigError("no datasets to train on: set data.paths=[DIR,...] (folders written by gea collect)")
        weights = self.weights or [1.0] * len(self.paths)
        if len(weights) != len(self.paths):
            raise ConfigError(f"data.weights has {len(weights)} entries for {len(self.paths)} data.paths")
        return dict(zip(self.paths, map(float, weights), strict=True))

    def embodiment_weight_map(self) -> dict[str, float]:
        """``{env_id: weight}`` parsed from ``embodiment_weights``."""
        parsed: dict[str, float] = {}
        for entry in self.embodiment_weights:
            name, separator, value = entry.rpartition("=")
            try:
                parsed[name] = float(value)
            except ValueError:
                separator = ""
            if not separator or not name:
                raise ConfigError(
                    f"data.embodiment_weights entry {entry!r} must read ENV_ID=WEIGHT, e.g. babyai:GoTo=3"
                )
        return parsed


@dataclass
class OptimConfig:
    """AdamW with a cosine schedule after a linear warmup, gradient accumulation and clipping."""

    lr: float = option(1e-4, "peak learning rate of AdamW", minimum=0)
    weight_decay: float = option(0.0, "AdamW weight decay", minimum=0)
    betas: list[float] = option(factory=lambda: [0.9, 0.999], help="AdamW betas")
    warmup_fraction: float = option(0.1, "fraction of the steps with a linear warmup, in [0, 1)", minimum=0)
    min_lr_fraction: float = option(0.0, "the cosine decays to this fraction of lr", minimum=0)
    grad_clip: float = option(1.0, "gradient norm clip (0: none)", minimum=0)


@dataclass
class EvalDuringTraining:
    """Optional periodic evaluation on rank 0: ``episodes`` greedy episodes of each of ``envs``."""

    every: int = option(0, "optimizer steps between evaluations (0: never)", minimum=0)
    envs: list[str] = option(factory=list, help="env ids to evaluate on")
    episodes: int = option(2, "greedy episodes per env", minimum=1)
    max_steps: int = option(100, "step limit of an episode", minimum=1)
    image_size: int | None = option(
        None, "observation size (null: the size the training data recorded for that env, else 64)", minimum=1
    )
    seed: int = option(10_000, "base seed of the evaluation episodes")


@dataclass
class SFTConfig:
    """Schema of ``gea sft``: data, policy (model + tokenizer + efficiency options), optimizer and run settings.

    The global batch is ``batch_size x grad_accum x world_size`` windows; the loss is the mean cross-entropy over
    every action token of the global batch (prompt and observation tokens carry no loss).
    """

    data: DataConfig = option(factory=DataConfig, help="the expert datasets and their mixture")
    policy: PolicyConfig = option(factory=PolicyConfig, help="the GEA policy to build (when init is empty)")
    init: str = option("", "a saved GEA policy folder to start from (save_pretrained); empty: build policy.model")
    action_tokenizer: str = option(
        "", "a fitted RVQ folder (gea tokenizer fit) for continuous actions; empty: 256 uniform bins a dimension"
    )
    optim: OptimConfig = option(factory=OptimConfig, help="AdamW, cosine schedule after a linear warmup")
    eval: EvalDuringTraining = option(factory=EvalDuringTraining, help="periodic evaluation on rank 0")
    steps: int = option(1000, "optimizer steps (the schedule's length)", minimum=1)
    stop_at: int = option(0, "end this run after this step (0: steps); resume=true continues", minimum=0)
    batch_size: int = option(8, "windows per micro-batch per process", minimum=1)
    grad_accum: int = option(1, "micro-batches per optimizer step", minimum=1)
    strategy: str = option("ddp", "ddp, or fsdp (FSDP2 shards every decoder layer; GPU)", choices=STRATEGIES)
    device: str = option("auto", "auto, cpu, cuda or cuda:N")
    cpu_threads: int = option(0, "torch threads on CPU (0: torch's default; 1 is fastest on a busy machine)", minimum=0)
    seed: int = option(0, "seed of data order and initialisation")
    out_dir: str = option("runs/sft", "where config, checkpoints, TensorBoard logs and policy/ are written")
    resume: bool = option(False, "continue from the newest checkpoint in out_dir")
    save_every: int = option(500, "optimizer steps between checkpoints (0: only at the end)", minimum=0)
    keep_checkpoints: int = option(2, "newest checkpoints kept (0: all)", minimum=0)
    log_every: int = option(10, "optimizer steps between logged metrics", minimum=1)
    progress: bool = option(True, "show a progress bar")
    imports: list[str] = option(
        factory=list, help="your modules that register envs and experts (workers import them too)"
    )

    def __post_init__(self) -> None:
        check_values(self)  # every option's minimum and choices (strategy, steps, batch_size, ...)
        if self.strategy == "fsdp" and self.eval.every:
            raise ConfigError(
                "periodic evaluation (eval.every) acts on rank 0 alone and needs unsharded weights: use strategy=ddp, "
                "or evaluate the saved policy afterwards with `gea eval agents=[gea:OUT_DIR]`"
            )
        if not 0.0 <= self.optim.warmup_fraction < 1.0:
            raise ConfigError(f"optim.warmup_fraction must be in [0, 1), got {self.optim.warmup_fraction}")
