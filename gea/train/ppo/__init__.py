"""Stage 2 of GEA: DD-PPO on vector envs for token-emitting (and small) policies, plus the ablations.

``run_ppo(PPOConfig)`` trains one rank; launch several with ``torchrun``. One iteration reads in three files:
``trainer`` (the loop: rollout collection, the clipped-PPO update and its loss, checkpoints), ``buffer`` (rollout
storage, GAE, episode bookkeeping) and ``agent`` (the policy interface and the small nets; ``mllm_agent`` puts the
GEA policy behind it). Around them: ``config`` (schema), ``run`` (process group, envs, agent), ``logging``
(TensorBoard, progress bar) and ``variants`` (the success-SFT and IQL ablations).
"""

from gea.train.ppo.config import PPOConfig
from gea.train.ppo.run import run_ppo
from gea.train.ppo.trainer import TrainResult

__all__ = ["PPOConfig", "TrainResult", "run_ppo"]
