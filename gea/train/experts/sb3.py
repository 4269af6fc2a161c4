"""``backend=sb3``: train an expert with Stable-Baselines3 PPO (``CnnPolicy``) and convert it to GEA's format.

SB3 trains on ``num_envs`` copies of ``gea.envs.make(env_id)`` whose observation is the frame-stacked ``image``
(``ImagePolicyInput``: the ``FrameStack`` the expert uses when acting), with a progress bar and TensorBoard. The
settings map one to one (``rollout_steps`` -> ``n_steps``, ``minibatches`` -> ``batch_size``, ``entropy_coef``
divided by ``log(number of actions)`` -> ``ent_coef``, half of ``value_coef`` -> ``vf_coef``: both backends then
weigh the same losses). The SB3 zip is kept in ``<expert folder>/run/model.zip``; the
expert itself is the converted net (``convert_sb3_zip``). SB3 runs do not resume: SB3 can only reload its own zips
by unpickling them.
"""

from __future__ import annotations

import io
import math
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv
from tqdm import tqdm

import gea.envs
from gea.agents.experts.net_expert import FrameStack
from gea.agents.experts.sb3_expert import sb3_to_small_net
from gea.files import atomic_write
from gea.plugins import load_plugins
from gea.train.experts.config import ExpertTrainConfig
from gea.train.experts.record import cpu_seconds

MODEL_FILE = "model.zip"


class ImagePolicyInput(gym.ObservationWrapper[np.ndarray, Any, dict[str, Any]]):
    """Turns a contract env into an SB3 image env: the frame-stacked ``image`` only (text is dropped)."""

    def __init__(self, env: gym.Env[dict[str, Any], Any], frame_stack: int) -> None:
        super().__init__(env)
        height, width, _ = env.observation_space["image"].shape  # type: ignore[index]
        self.stack = FrameStack(frame_stack, (height, width))
        self.observation_space = gym.spaces.Box(0, 255, (height, width, 3 * frame_stack), np.uint8)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, Any]:
        """Reset the env and start a new frame stack."""
        observation, info = self.env.reset(seed=seed, options=options)
        return self.stack.reset(observation["image"]), info

    def observation(self, observation: dict[str, Any]) -> np.ndarray:
        """Push the new image onto the stack."""
        return self.stack.push(observation["image"])


class SignReward(gym.RewardWrapper[Any, Any]):
    """Rewards clipped to their sign (-1, 0, 1) for training; episode statistics are recorded before this."""

    def reward(self, reward: Any) -> float:
        """The sign of ``reward``."""
        return float(np.sign(reward))


def make_training_env(config: ExpertTrainConfig, rank: int) -> gym.Env[Any, Any]:
    """One training copy of the env: contract env -> image stack -> SB3 ``Monitor`` (true returns) -> rewards."""
    load_plugins(config.imports)  # SB3's subprocess workers build their env here
    kwargs = {"image_size": config.image_size, **config.env_kwargs, **config.train_env_kwargs}
    env: gym.Env[Any, Any] = Monitor(ImagePolicyInput(gea.envs.make(config.env_id, **kwargs), config.frame_stack))
    if config.clip_rewards:
        env = SignReward(env)
    env.action_space.seed(config.seed + rank)
    return env


class ProgressBar(BaseCallback):
    """SB3 callback: a tqdm bar over timesteps showing the mean return of the last 100 training episodes."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        super().__init__()
        self.total = total
        self.enabled = enabled
        self.bar: tqdm[Any] | None = None

    def _on_training_start(self) -> None:
        self.bar = tqdm(total=self.total, unit="step", desc="gea expert train (sb3)", disable=not self.enabled)

    def _on_step(self) -> bool:
        assert self.bar is not None
        self.bar.update(self.training_env.num_envs)
        episodes = self.model.ep_info_buffer
        if episodes and self.n_calls % 50 == 0:
            self.bar.set_postfix(mean_return=f"{np.mean([info['r'] for info in episodes]):.2f}")
        return True

    def _on_training_end(self) -> None:
        assert self.bar is not None
        self.bar.close()


def sb3_ppo_settings(config: ExpertTrainConfig, actions: int) -> dict[str, Any]:
    """SB3 ``PPO(...)`` keyword arguments that train with ``config``'s settings on an env of ``actions`` actions."""
    return {
        "learning_rate": config.lr,
        "n_steps": config.rollout_steps,
        "batch_size": config.num_envs * config.rollout_steps // config.minibatches,
        "n_epochs": config.epochs,
        "gamma": config.gamma,
        "gae_lambda": config.gae_lambda,
        "clip_range": config.clip,
        "ent_coef": config.entropy_coef / math.log(actions),
        "vf_coef": config.value_coef / 2,  # SB3's value loss is the squared error, the ppo backend's half of it
        "max_grad_norm": config.max_grad_norm,
        "policy_kwargs": {"features_extractor_kwargs": {"features_dim": config.cnn_features}},
    }


def train_sb3_expert(config: ExpertTrainConfig, run_dir: Path) -> tuple[Any, dict[str, Any]]:
    """Train SB3 PPO from scratch in ``run_dir``; returns the converted net and the run's steps and time."""
    run_dir.mkdir(parents=True, exist_ok=True)
    factories = [lambda rank=rank: make_training_env(config, rank) for rank in range(config.num_envs)]
    vec_env = SubprocVecEnv(factories) if config.asynchronous else DummyVecEnv(factories)
    vec_env.seed(config.seed)
    model = PPO(
        "CnnPolicy",
        vec_env,
        **sb3_ppo_settings(config, int(vec_env.action_space.n)),  # type: ignore[attr-defined]
        tensorboard_log=str(run_dir / "tensorboard"),
        seed=config.seed,
        device="cpu",
    )
    started, cpu_started = time.perf_counter(), cpu_seconds()
    try:
        model.learn(config.total_steps, callback=ProgressBar(config.total_steps, config.progress))
    finally:
        vec_env.close()
    summary = {
        "steps": int(model.num_timesteps),
        "train_wall_seconds": round(time.perf_counter() - started, 1),
        "train_cpu_seconds": round(cpu_seconds() - cpu_started, 1),
    }
    buffer = io.BytesIO()
    model.save(buffer)
    atomic_write(run_dir / MODEL_FILE, lambda temporary: temporary.write_bytes(buffer.getvalue()))
    return sb3_to_small_net(run_dir / MODEL_FILE), summary
