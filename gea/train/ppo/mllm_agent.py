"""``PPOAgent`` over the GEA policy (``gea.agents.policy.GEAPolicy``): token actions, PopArt critic, LoRA.

- Stored per step: the prompt record and the emitted action token ids; ``evaluate`` re-scores them (the
  log-prob summed over the action's tokens under the same constrained decoding masks).
- Entropy is normalized per environment by its number of action tokens (embodiments emit 1 to many tokens).
- Bootstrapping: the value of the rollout's next observation comes from acting on it ahead of time (that
  act is then used as the next rollout's first step, so the history stays consistent); a truncated
  episode's final observation is valued by the value the policy gave its last acted observation.
- Dropout (e.g. LoRA's) stays off: the policy runs in eval mode, so an action's log-prob at acting time and in
  the update come from the same network and the first epoch's ratio is exactly 1.
- KL to the start policy: with LoRA, the same model with adapters switched off (adapters start at zero);
  without LoRA, a frozen copy taken at the start.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gea.agents.config import MLLMPolicyConfig
from gea.agents.policy import GEAPolicy
from gea.agents.value import PopArt
from gea.envs.registry import spec as env_spec
from gea.train.ppo.agent import ActResult, EvalResult


def _lora_layers(module: nn.Module) -> list[Any]:
    from peft.tuners.lora import LoraLayer

    return [layer for layer in module.modules() if isinstance(layer, LoraLayer)]


class MLLMAgent:
    """The GEA policy behind the PPO trainer's interface."""

    def __init__(
        self, policy: GEAPolicy, env_ids: Sequence[str], device: torch.device, keep_reference: bool = True
    ) -> None:
        self.policy = policy.to(device).eval()  # no dropout: acting and re-scoring must see the same network
        self.module: nn.Module = self.policy
        self.popart: PopArt | None = policy.value_head.popart
        self.env_ids = list(env_ids)
        specs = [env_spec(env_id) for env_id in self.env_ids]
        self._tasks = torch.tensor([policy.task_index(env_id) for env_id in self.env_ids], device=device)
        self._tokens = {spec.id: max(1, policy.codec.max_tokens([spec])) for spec in specs}
        self._lora = _lora_layers(policy)
        self._reference = None if self._lora or not keep_reference else copy.deepcopy(policy).requires_grad_(False)
        self._pending: ActResult | None = None
        self._last_values = torch.zeros(len(self.env_ids))

    @classmethod
    def build(cls, config: MLLMPolicyConfig, env_ids: Sequence[str], device: torch.device) -> MLLMAgent:
        """Load ``config.path`` (an SFT checkpoint) or build ``config.model``, with LoRA when configured."""
        if config.path:
            overrides = config.checkpoint_overrides()
            policy = GEAPolicy.from_pretrained(config.path, trust_remote_code=config.trust_remote_code, **overrides)
        else:
            policy = GEAPolicy.build(config.policy_config(), list(dict.fromkeys(env_ids)))
        return cls(policy, env_ids, device)

    def act(self, observations: Any, greedy: bool = False) -> ActResult:
        """Constrained decoding for every env (or the act ``value_of`` did ahead on these same observations)."""
        if self._pending is not None:
            result, self._pending = self._pending, None
            return result
        out = self.policy.act(observations, self.env_ids, greedy=greedy)
        inputs = list(zip(out.prompts, out.token_ids, strict=True))
        self._last_values = out.value.detach().float().cpu()
        return ActResult(out.actions, inputs, out.log_prob.float(), out.value.float(), self._tasks)

    def evaluate(self, inputs: Sequence[tuple[Any, list[int]]]) -> EvalResult:
        """Summed log-prob, entropy per action token, PopArt-normalized value of stored prompts and actions."""
        records = [record for record, _ in inputs]
        out = self.policy.evaluate(records, [ids for _, ids in inputs])
        tokens = torch.tensor([self._tokens.get(record.env_id, 1) for record in records], device=out.entropy.device)
        return EvalResult(out.log_prob.float(), out.entropy.float() / tokens, out.normalized_value.float())

    def value_of(self, observations: Sequence[dict[str, Any]], indices: Sequence[int]) -> torch.Tensor:
        """All envs: act ahead on the next observations; a subset (truncated episodes): their last values."""
        if list(indices) == list(range(len(self.env_ids))) and len(observations) == len(self.env_ids):
            return self._act_ahead(observations)
        return self._last_values[list(indices)]

    def _act_ahead(self, rows: Sequence[dict[str, Any]]) -> torch.Tensor:
        self._pending = self.act(list(rows))
        return self._pending.value

    def reset(self, done: np.ndarray) -> None:
        """Clear the observation history of finished envs (and any act done ahead, when all are reset)."""
        if np.asarray(done).all():
            self._pending = None
        self.policy.reset(done)

    def after_update(self) -> None:
        """Visual features cached in the history were computed with the old weights."""
        self.policy.invalidate_cache()

    def reference_log_prob(self, inputs: Sequence[tuple[Any, list[int]]]) -> torch.Tensor:
        """Log-prob of the stored actions under the start policy."""
        with torch.inference_mode(), self._start_policy() as reference:
            records = [record for record, _ in inputs]
            return reference.evaluate(records, [ids for _, ids in inputs]).log_prob.float()

    @contextlib.contextmanager
    def _start_policy(self) -> Iterator[GEAPolicy]:
        if self._reference is not None:
            yield self._reference
            return
        for layer in self._lora:
            layer.enable_adapters(False)
        try:
            yield self.policy
        finally:
            for layer in self._lora:
                layer.enable_adapters(True)

    def sft_loss(self, samples: Sequence[dict[str, Any]]) -> torch.Tensor:
        """Negative log-likelihood of the expert's action tokens given each window (the joint SFT term)."""
        from gea.agents.prompt import PromptRecord

        policy = self.policy
        records, action_ids = [], []
        for sample in samples:
            task = policy.task_index(str(sample["embodiment"]))
            record, target = PromptRecord.from_window(sample, policy.prompts, policy.codec, task)
            records.append(record)
            action_ids.append(target)
        return -self.policy.evaluate(records, action_ids).log_prob.float().mean()

    def export(self, directory: Path) -> None:
        """``save_pretrained`` (LoRA merged): loadable by ``GEAPolicy.from_pretrained`` and ``gea eval``."""
        self.policy.save_pretrained(directory)
