"""Structured configuration of ``gea sft`` (the Hydra schema of ``gea/configs/sft.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gea.agents.config import PolicyConfig
from gea.errors import ConfigError

STRATEGIES = ("ddp", "fsdp")


@dataclass
class DataConfig:
    """Which episode datasets to train on and how to mix them.

    ``paths``: dataset folders written by ``gea collect``; ``weights``: their sampling weights (empty = equal).
    Streams are (dataset, embodiment) pairs, each drawn with probability dataset weight x embodiment weight;
    ``embodiment_weights`` holds ``"ENV_ID=WEIGHT"`` entries (default weight 1), e.g. ``["babyai:GoTo=3"]``.
    """

    paths: list[str] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    embodiment_weights: list[str] = field(default_factory=list)
    block_row_groups: int = 2

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

    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    warmup_fraction: float = 0.1
    min_lr_fraction: float = 0.0
    grad_clip: float = 1.0


@dataclass
class EvalDuringTraining:
    """Optional periodic evaluation on rank 0: ``episodes`` greedy episodes of each of ``envs``."""

    every: int = 0  # optimizer steps between evaluations; 0 = never
    envs: list[str] = field(default_factory=list)
    episodes: int = 2
    max_steps: int = 100
    image_size: int | None = None  # None: the size the training data recorded for that env (else 64)
    seed: int = 10_000


@dataclass
class SFTConfig:
    """Schema of ``gea sft``: data, policy (model + tokenizer + efficiency options), optimizer and run settings.

    The global batch is ``batch_size x grad_accum x world_size`` windows; the loss is the mean cross-entropy over
    every action token of the global batch (prompt and observation tokens carry no loss).
    """

    data: DataConfig = field(default_factory=DataConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    init: str = ""  # a saved GEA policy folder to start from (save_pretrained); empty = build policy.model
    action_tokenizer: str = ""  # a fitted RVQ folder (gea tokenizer fit) for continuous actions; "" = uniform bins
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalDuringTraining = field(default_factory=EvalDuringTraining)
    steps: int = 1000  # optimizer steps (the schedule's length)
    stop_at: int = 0  # end this run after this step (0 = steps), e.g. for time-limited jobs; resume=true continues
    batch_size: int = 8  # windows per micro-batch per process
    grad_accum: int = 1
    strategy: str = "ddp"  # ddp | fsdp (FSDP2 fully_shard of each decoder layer; GPU)
    device: str = "auto"
    cpu_threads: int = 0  # torch intra-op threads on CPU (0 = torch's default; 1 is fastest on a busy machine)
    seed: int = 0
    out_dir: str = "runs/sft"
    resume: bool = False
    save_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 10
    progress: bool = True

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.steps < 1 or self.batch_size < 1 or self.grad_accum < 1:
            raise ConfigError("steps, batch_size and grad_accum must all be >= 1")
        if self.strategy == "fsdp" and self.eval.every:
            raise ConfigError(
                "periodic evaluation (eval.every) acts on rank 0 alone and needs unsharded weights: use strategy=ddp, "
                "or evaluate the saved policy afterwards with `gea eval agents=[gea:OUT_DIR]`"
            )
        if not 0.0 <= self.optim.warmup_fraction < 1.0:
            raise ConfigError(f"optim.warmup_fraction must be in [0, 1), got {self.optim.warmup_fraction}")
