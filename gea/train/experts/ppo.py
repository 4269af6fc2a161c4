"""``backend=ppo``: train an expert with the project's own PPO (``gea.train.ppo``) on vector envs, resumably.

The net is a ``SmallActorCriticNet`` (Nature or IMPALA-style CNN, PopArt critic) on the frame-stacked ``image``
(``FrameStackAgent``); its CNN computes in the dtype ``precision`` resolves to (``training_dtype``). The run lives
in ``<expert folder>/run/`` (``config.yaml``, ``tensorboard/``, ``checkpoints/``, ``time.json``); with ``resume`` a
rerun continues from its newest checkpoint, and a run that already reached ``total_steps`` is not trained further
(raise ``total_steps`` to train on).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gea.agents.small_nets import SmallActorCriticNet, SmallNetConfig
from gea.envs.adapters.procgen_games import distinct_actions
from gea.envs.registry import spec as env_spec
from gea.errors import ConfigError
from gea.files import atomic_write_json
from gea.spec import DiscreteActions
from gea.train.distributed import init_distributed, seed_everything, shutdown_distributed
from gea.train.experts.config import ExpertTrainConfig
from gea.train.experts.record import cpu_seconds
from gea.train.ppo.agent import ActResult, EvalResult, SmallNetAgent
from gea.train.ppo.buffer import EpisodeEnd
from gea.train.ppo.config import PPOConfig
from gea.train.ppo.run import make_rank_envs
from gea.train.ppo.trainer import PPOTrainer

TIME_FILE = "time.json"


class FrameStackAgent:
    """A ``SmallNetAgent`` that sees each env's last ``frames`` images stacked along channels, oldest first.

    An episode's stack starts from zeros (``reset``), as ``gea.agents.experts.net_expert.FrameStack`` does when the
    expert acts, so training and acting see the same inputs.
    """

    def __init__(self, inner: SmallNetAgent, frames: int, num_envs: int, image_shape: Sequence[int]) -> None:
        self.inner = inner
        self.module = inner.module
        self.popart = inner.popart
        height, width, channels = image_shape
        self.stacks = torch.zeros((num_envs, height, width, channels * frames), dtype=torch.uint8)
        self.channels = channels

    def _pushed(self, stacks: torch.Tensor, images: Any) -> torch.Tensor:
        return torch.cat([stacks[..., self.channels :], torch.as_tensor(np.asarray(images))], dim=-1)

    def act(self, observations: Any, greedy: bool = False) -> ActResult:
        """Push each env's new image onto its stack and act on the stacks."""
        self.stacks = self._pushed(self.stacks, observations["image"])
        return self.inner.act({"image": self.stacks}, greedy)

    def evaluate(self, inputs: dict[str, torch.Tensor]) -> EvalResult:
        """The inner agent's evaluation of stored (stacked) inputs."""
        return self.inner.evaluate(inputs)

    def value_of(self, observations: Sequence[dict[str, Any]], indices: Sequence[int]) -> torch.Tensor:
        """Values of env ``indices`` had they seen ``observations`` next (their stacks are left unchanged)."""
        images = np.stack([np.asarray(observation["image"]) for observation in observations])
        stacked = self._pushed(self.stacks[list(indices)], images)
        return self.inner.value_of([{"image": row} for row in stacked.numpy()], indices)

    def reset(self, done: np.ndarray) -> None:
        """Empty the stacks of the envs whose episode ended."""
        self.stacks[torch.from_numpy(np.asarray(done, dtype=bool))] = 0

    def after_update(self) -> None:
        """Nothing is cached."""

    def critic_parameters(self) -> list[nn.Parameter]:
        """The inner agent's critic parameters."""
        return self.inner.critic_parameters()

    def reference_log_prob(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Log-prob under the starting net."""
        return self.inner.reference_log_prob(inputs)

    def sft_loss(self, samples: Sequence[dict[str, Any]]) -> torch.Tensor:
        """Not used by expert training."""
        raise NotImplementedError("expert training has no SFT term")

    def export(self, directory: Path) -> None:
        """The inner agent's ``small_net.json`` + ``model.safetensors``."""
        self.inner.export(directory)


class ExpertTrainer(PPOTrainer):
    """``PPOTrainer`` that adds the wall and CPU seconds spent so far to ``time.json`` at every checkpoint, and
    bootstraps values past time-limit truncations only with ``bootstrap``."""

    def __init__(self, *args: Any, bootstrap: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bootstrap = bootstrap
        self.ledger = self.out_dir / TIME_FILE
        self.started = time.perf_counter()
        self.cpu_started = cpu_seconds()
        self.before = read_time(self.out_dir)

    def bootstrap_truncated(self, rewards: np.ndarray, ends: list[EpisodeEnd]) -> np.ndarray:
        """The trainer's bootstrapping, or the rewards unchanged (truncation as an end) without ``bootstrap``."""
        return super().bootstrap_truncated(rewards, ends) if self.bootstrap else rewards

    def save(self) -> None:
        """Checkpoint, then record the time (time after the newest checkpoint of a killed run is not counted)."""
        super().save()
        atomic_write_json(
            self.ledger,
            {
                "wall_seconds": self.before["wall_seconds"] + time.perf_counter() - self.started,
                "cpu_seconds": self.before["cpu_seconds"] + cpu_seconds() - self.cpu_started,
                "steps": self.update_index * self.steps_per_update,
            },
        )


def read_time(run_dir: Path) -> dict[str, float]:
    """Wall and CPU seconds and steps recorded in a run's ``time.json`` (zeros when there is none)."""
    import json

    path = run_dir / TIME_FILE
    if not path.is_file():
        return {"wall_seconds": 0.0, "cpu_seconds": 0.0, "steps": 0}
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def ppo_config(config: ExpertTrainConfig, run_dir: Path) -> PPOConfig:
    """The ``gea ppo`` settings of an expert run (envs are built here, so ``envs``/``env_kwargs`` are informative)."""
    return PPOConfig(
        envs=[config.env_id],
        image_size=config.image_size,
        env_kwargs=train_env_kwargs(config),
        num_envs=config.num_envs,
        asynchronous=config.asynchronous,
        total_steps=config.total_steps,
        rollout_steps=config.rollout_steps,
        epochs=config.epochs,
        minibatches=config.minibatches,
        lr=config.lr,
        gamma=config.gamma,
        gae_lambda=config.gae_lambda,
        clip=config.clip,
        entropy_coef=config.entropy_coef,
        value_coef=config.value_coef,
        max_grad_norm=config.max_grad_norm,
        log_kl_start=False,
        seed=config.seed,
        device="cpu",
        threads=config.threads,
        out_dir=str(run_dir),
        checkpoint_every=config.checkpoint_every,
        resume=config.resume,
        progress=config.progress,
        imports=list(config.imports),
    )


def train_env_kwargs(config: ExpertTrainConfig) -> dict[str, Any]:
    """``gea.envs.make`` options of the training envs."""
    return {"image_size": config.image_size, **config.env_kwargs, **config.train_env_kwargs}


def build_net(config: ExpertTrainConfig, image_shape: Sequence[int]) -> SmallActorCriticNet:
    """A fresh actor-critic for ``config.env_id``'s discrete actions on ``frame_stack`` stacked images."""
    action = env_spec(config.env_id).action
    if not isinstance(action, DiscreteActions):
        raise ConfigError(f"{config.env_id} has {type(action).__name__}; RL experts need discrete actions")
    height, width, channels = image_shape
    shape = (height, width, channels * config.frame_stack)
    allowed = None
    if config.skip_duplicate_actions:
        allowed = distinct_actions(action.names)
    net_config = SmallNetConfig(
        config.encoder,  # type: ignore[arg-type]
        shape,
        action.n,
        True,
        cnn_features=config.cnn_features,
        popart=config.popart,
        allowed_actions=allowed,
    )
    return SmallActorCriticNet(net_config)


def training_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The CNN's compute dtype for ``precision``: ``auto`` is bfloat16 where ``device`` computes it natively (a CPU
    with AVX-512 BF16 or AMX, a CUDA GPU with bf16), float32 elsewhere (emulated bf16 would be slower)."""
    if precision != "auto":
        return getattr(torch, precision)  # type: ignore[no-any-return]
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported()
    else:
        try:
            native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # a torch build without oneDNN
            native = False
    return torch.bfloat16 if native else torch.float32


def train_ppo_expert(config: ExpertTrainConfig, run_dir: Path) -> tuple[SmallActorCriticNet, dict[str, Any]]:
    """Train (or resume) the run in ``run_dir``; returns the net and the run's steps and time."""
    context = init_distributed("cpu")
    seed_everything(config.seed)
    env_ids = [config.env_id] * config.num_envs
    envs = make_rank_envs(env_ids, config.seed, config.asynchronous, None, train_env_kwargs(config))
    try:
        image_shape = envs.single_observation_space["image"].shape  # type: ignore[union-attr]
        net = build_net(config, image_shape)
        dtype = training_dtype(config.precision, context.device)
        net.set_torso_dtype(dtype)
        inner = SmallNetAgent(net, "image", env_ids, context.device)
        agent: Any = inner
        if config.frame_stack > 1:
            agent = FrameStackAgent(inner, config.frame_stack, config.num_envs, image_shape)
        trainer = ExpertTrainer(ppo_config(config, run_dir), context, agent, envs, bootstrap=config.bootstrap_truncated)
        result = trainer.train()
    finally:
        envs.close()
        shutdown_distributed()
    spent = read_time(run_dir)
    history = [row for row in result.history if "return" in row]
    summary = {
        "steps": result.global_step,
        "precision": str(dtype).removeprefix("torch."),
        "train_wall_seconds": round(spent["wall_seconds"], 1),
        "train_cpu_seconds": round(spent["cpu_seconds"], 1),
        "training_return_last_updates": round(float(np.mean([row["return"] for row in history[-10:]])), 3)
        if history
        else None,
    }
    net.set_torso_dtype(torch.float32)  # the expert acts in float32, as every loaded expert does
    return net.eval(), summary
