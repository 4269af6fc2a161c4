"""Train an RL expert with Stable-Baselines3 PPO (``CnnPolicy``) on a contract env's image and record its score.

``train_expert(config)`` trains on ``n_envs`` copies of ``gea.envs.make(env_id)`` whose observation is the
frame-stacked ``image`` (``ImagePolicyInput``, the same ``FrameStack`` the expert uses when acting), logs to
TensorBoard with a progress bar, then evaluates the saved model and a random policy on the same seeds.
Everything lands in ``<out_dir>/<env-slug>/``: ``model.zip``, ``expert.json`` (env id, timesteps, mean and
std return of the expert and of random play, date, config), ``config.yaml`` and ``tensorboard/``; the zip
and the JSON are written atomically. The result is registered as the expert of ``env_id`` at once.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv
from tqdm import tqdm

import gea.envs
from gea.agents.baselines import RandomAgent
from gea.agents.experts.sb3_expert import (
    MODEL_FILE,
    RECORD_FILE,
    FrameStack,
    env_slug,
    experts_dir,
    load_sb3_expert,
    register_sb3_expert,
)
from gea.config import save_config
from gea.envs.contract import DEFAULT_IMAGE_SIZE
from gea.errors import ConfigError
from gea.files import atomic_write, atomic_write_json
from gea.plugins import load_plugins
from gea.rollouts.episodes import EpisodeAgent, run_episode
from gea.schema import option


@dataclass
class ExpertTrainConfig:
    """Schema of ``gea expert train``: an SB3 PPO (CnnPolicy) expert on an env's image, with SB3's settings."""

    env_id: str = option("", "the env to train on (the first argument of gea expert train)")
    total_timesteps: int = option(200_000, "env steps of training", minimum=1)
    n_envs: int = option(8, "envs stepped together", minimum=1)
    n_steps: int = option(128, "steps per env per update", minimum=1)
    batch_size: int = option(256, "minibatch size (must divide n_envs x n_steps)", minimum=1)
    n_epochs: int = option(3, "passes over each rollout", minimum=1)
    learning_rate: float = option(2.5e-4, "Adam learning rate", minimum=0)
    gamma: float = option(0.99, "discount factor", minimum=0)
    gae_lambda: float = option(0.95, "GAE lambda", minimum=0)
    clip_range: float = option(0.1, "PPO clip range", minimum=0)
    ent_coef: float = option(0.01, "entropy bonus weight", minimum=0)
    vf_coef: float = option(0.5, "value loss weight", minimum=0)
    image_size: int = option(DEFAULT_IMAGE_SIZE, "observation images are image_size x image_size pixels", minimum=1)
    frame_stack: int = option(4, "frames stacked as the policy's input", minimum=1)
    clip_rewards: bool = option(False, "train on the sign of the reward (Atari)")
    env_kwargs: dict[str, Any] = option(factory=dict, help="adapter options for training and evaluation")
    train_env_kwargs: dict[str, Any] = option(
        factory=dict, help="adapter options for training only, e.g. +train_env_kwargs.terminal_on_life_loss=true"
    )
    subprocess_envs: bool = option(False, "step the training envs in worker processes")
    seed: int = option(0, "seed of training")
    device: str = option("auto", "auto, cpu or cuda")
    torch_threads: int = option(1, "torch CPU threads (0: torch's default; 1 avoids oversubscription)", minimum=0)
    eval_episodes: int = option(10, "evaluation episodes of the expert and of a random policy", minimum=1)
    eval_seed: int = option(1000, "first seed of the evaluation episodes")
    eval_max_steps: int = option(0, "step limit of an evaluation episode (0: the env's own)", minimum=0)
    progress: bool = option(True, "show progress bars")
    out_dir: str = option("", "where the expert is saved (empty: $GEA_EXPERTS_DIR, else ~/.cache/gea/experts)")
    imports: list[str] = option(
        factory=list, help="your modules that register envs and experts (workers import them too)"
    )


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
        self.bar = tqdm(total=self.total, unit="step", disable=not self.enabled, dynamic_ncols=True)

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


def _check(config: ExpertTrainConfig) -> None:
    if not config.env_id:
        raise ConfigError("no env id: run `gea expert train ENV_ID [key=value ...]`, e.g. procgen:bigfish")
    spec = gea.envs.spec(config.env_id)
    if not isinstance(spec.action, gea.envs.DiscreteActions):
        raise ConfigError(f"{config.env_id} has {type(spec.action).__name__}; SB3 experts need discrete actions")
    if config.n_envs * config.n_steps % config.batch_size:
        raise ConfigError(f"batch_size={config.batch_size} must divide n_envs*n_steps={config.n_envs * config.n_steps}")


def evaluate_agent(config: ExpertTrainConfig, agent: EpisodeAgent, label: str) -> list[float]:
    """Episode returns of ``agent`` on seeds ``eval_seed .. eval_seed + eval_episodes - 1`` (full episodes)."""
    env = gea.envs.make(
        config.env_id,
        max_episode_steps=config.eval_max_steps or None,
        image_size=config.image_size,
        **config.env_kwargs,
    )
    returns = []
    try:
        for episode in tqdm(range(config.eval_episodes), desc=f"eval {label}", disable=not config.progress):
            result = run_episode(env, agent, config.eval_seed + episode, config.env_id, end_on_success=False)
            returns.append(result.episode_return)
    finally:
        env.close()
    return returns


def _summary(returns: list[float]) -> dict[str, Any]:
    return {
        "mean": float(np.mean(returns)),
        "std": float(statistics.pstdev(returns)),
        "returns": [float(value) for value in returns],
    }


def train_expert(config: ExpertTrainConfig) -> dict[str, Any]:
    """Train, save, evaluate (expert vs random on the same seeds) and register one expert; returns expert.json.

    ``torch_threads`` applies while this runs; the previous torch thread count is restored afterwards.
    """
    load_plugins(config.imports)
    _check(config)
    threads = torch.get_num_threads()
    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    try:
        return _train_and_record(config)
    finally:
        torch.set_num_threads(threads)


def _train_and_record(config: ExpertTrainConfig) -> dict[str, Any]:
    folder = Path(config.out_dir or experts_dir()) / env_slug(config.env_id)
    folder.mkdir(parents=True, exist_ok=True)
    save_config(config, folder / "config.yaml")
    factories = [lambda rank=rank: make_training_env(config, rank) for rank in range(config.n_envs)]
    vec_env = SubprocVecEnv(factories) if config.subprocess_envs else DummyVecEnv(factories)
    vec_env.seed(config.seed)
    model = PPO(
        "CnnPolicy",
        vec_env,
        learning_rate=config.learning_rate,
        n_steps=config.n_steps,
        batch_size=config.batch_size,
        n_epochs=config.n_epochs,
        gamma=config.gamma,
        gae_lambda=config.gae_lambda,
        clip_range=config.clip_range,
        ent_coef=config.ent_coef,
        vf_coef=config.vf_coef,
        tensorboard_log=str(folder / "tensorboard"),
        seed=config.seed,
        device=config.device,
    )
    started = time.perf_counter()
    try:
        model.learn(config.total_timesteps, callback=ProgressBar(config.total_timesteps, config.progress))
    finally:
        vec_env.close()
    train_seconds = time.perf_counter() - started
    buffer = io.BytesIO()
    model.save(buffer)
    model_path = folder / MODEL_FILE
    atomic_write(model_path, lambda temporary: temporary.write_bytes(buffer.getvalue()))

    expert_returns = evaluate_agent(config, load_sb3_expert(config.env_id, model_path), "expert")
    random_returns = evaluate_agent(config, RandomAgent(config.seed), "random")
    record = {
        "env_id": config.env_id,
        "algorithm": "PPO",
        "policy": "CnnPolicy",
        "timesteps": int(model.num_timesteps),
        "train_seconds": round(train_seconds, 1),
        "steps_per_second": round(model.num_timesteps / train_seconds, 1),
        "eval_seeds": [config.eval_seed + episode for episode in range(config.eval_episodes)],
        "expert_return": _summary(expert_returns),
        "random_return": _summary(random_returns),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": dataclasses.asdict(config),
    }
    atomic_write_json(folder / RECORD_FILE, record)
    register_sb3_expert(config.env_id, model_path)
    return record
