"""``gea expert train``: RL experts for games (Procgen, Atari, any discrete-action image env), scored and saved.

``train_expert(config)`` trains with the chosen backend (``ppo``: the project's PPO, resumable; ``sb3``:
Stable-Baselines3), rounds the weights to the saved ``dtype``, scores that net and random play on held-out seeds
(``record``), and writes the expert folder ``<out_dir>/<env-slug>/``: ``model.safetensors`` + ``expert.json``
(``gea.agents.experts.net_expert``), beside the run's ``run/`` folder (config, TensorBoard, checkpoints). The
expert is registered for ``gea collect`` and ``gea eval agents=[expert]`` at once. Settings come from the
per-game recipe table (``config.load_expert_config``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from gea.agents.experts.net_expert import env_slug, experts_dir, register_net_expert, save_net_expert
from gea.config import save_config
from gea.plugins import load_plugins
from gea.train.experts.config import ExpertTrainConfig, as_dict, load_expert_config
from gea.train.experts.record import evaluate_expert, machine, round_weights

RUN_FOLDER = "run"
CONFIG_FILE = "expert_train.yaml"


def expert_output(config: ExpertTrainConfig) -> Path:
    """The expert folder a run writes: ``<out_dir or experts_dir()>/<env-slug>``."""
    return Path(config.out_dir or experts_dir()) / env_slug(config.env_id)


def train_expert(config: ExpertTrainConfig) -> dict[str, Any]:
    """Train (or resume), score and save the expert of ``config.env_id``; returns its ``expert.json`` record.

    ``config.threads`` (torch CPU threads) applies while this runs; the previous count is restored afterwards.
    """
    load_plugins(config.imports)
    folder = expert_output(config)
    run_dir = folder / RUN_FOLDER
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / CONFIG_FILE)
    threads = torch.get_num_threads()
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    try:
        if config.backend == "ppo":
            from gea.train.experts.ppo import train_ppo_expert

            net, training = train_ppo_expert(config, run_dir)
        else:
            from gea.train.experts.sb3 import train_sb3_expert

            net, training = train_sb3_expert(config, run_dir)
        training["machine"] = machine()
        round_weights(net, config.dtype)
        evaluation = evaluate_expert(config, net)
    finally:
        torch.set_num_threads(threads)
    record = {"backend": config.backend, "training": training, "evaluation": evaluation, "config": as_dict(config)}
    save_net_expert(folder, config.env_id, net, config.frame_stack, evaluation["act"], record, config.dtype)
    register_net_expert(config.env_id, folder)
    return record


__all__ = ["ExpertTrainConfig", "expert_output", "load_expert_config", "train_expert"]
