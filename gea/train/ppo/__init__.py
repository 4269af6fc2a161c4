"""Stage 2 of GEA: DD-PPO on vector envs for token-emitting (and small) policies, plus the ablations.

``run_ppo(PPOConfig)`` trains one rank; launch several with ``torchrun``. Pieces, one idea per module:
``config`` (schema), ``buffer`` (rollout storage + GAE), ``loss`` (clipped PPO), ``update`` (epochs x
minibatches), ``rollout`` (collection), ``agent`` (the policy interface + small nets), ``mllm_agent`` (the GEA
policy), ``variants`` (success-SFT, IQL), ``trainer`` (loop, logging, checkpoints), ``run`` (wiring).
"""

from gea.train.ppo.config import PPOConfig
from gea.train.ppo.run import run_ppo
from gea.train.ppo.trainer import TrainResult

__all__ = ["PPOConfig", "TrainResult", "run_ppo"]
