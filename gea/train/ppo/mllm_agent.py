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
from gea.agents.header_cache import HeaderCache
from gea.agents.policy import GEAPolicy
from gea.agents.prompt import PromptRecord
from gea.agents.value import PopArt
from gea.envs.registry import spec as env_spec
from gea.train.ppo.agent import ActResult, EvalResult


def _lora_layers(module: nn.Module) -> list[Any]:
    from peft.tuners.lora import LoraLayer

    return [layer for layer in module.modules() if isinstance(layer, LoraLayer)]


def _adapter_up_weights(layer: Any) -> list[torch.Tensor]:
    """The zero-initialised half of a LoRA layer's adapters (B, or the embedding B)."""
    return [module.weight for module in layer.lora_B.values()] + list(layer.lora_embedding_B.values())


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
        self._reference_headers = HeaderCache()  # the start policy's header states: valid for the whole run
        self._stepped = False
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
        return self._eval_result(records, out.log_prob, out.entropy, out.normalized_value)

    def evaluate_with_sft(
        self, inputs: Sequence[tuple[Any, list[int]]], samples: Sequence[dict[str, Any]]
    ) -> tuple[EvalResult, torch.Tensor]:
        """``evaluate(inputs)`` and ``sft_loss(samples)`` from one model call: the windows' rows join the
        minibatch's, so headers the two share (the same env's text) run once."""
        records = [record for record, _ in inputs]
        sft_records, sft_ids = self._sft_prompts(samples)
        out = self.policy.evaluate(records + sft_records, [ids for _, ids in inputs] + sft_ids)
        count = len(records)
        evaluated = self._eval_result(records, out.log_prob[:count], out.entropy[:count], out.normalized_value[:count])
        return evaluated, -out.log_prob[count:].float().mean()

    def _eval_result(
        self, records: Sequence[Any], log_prob: torch.Tensor, entropy: torch.Tensor, value: torch.Tensor
    ) -> EvalResult:
        tokens = torch.tensor([self._tokens.get(record.env_id, 1) for record in records], device=entropy.device)
        return EvalResult(log_prob.float(), entropy.float() / tokens, value.float())

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
        self._stepped = True
        self.policy.invalidate_cache()

    def critic_parameters(self) -> list[nn.Parameter]:
        """The value head (its MLP and PopArt layer); the language model and vision tower are the policy's."""
        return list(self.policy.value_head.parameters())

    def reference_log_prob(self, inputs: Sequence[tuple[Any, list[int]]]) -> torch.Tensor | None:
        """Log-prob of the stored actions under the start policy; None while the policy still is the start policy
        (LoRA adapters all zero, or no update yet): the KL to it is then exactly 0. The start policy's header states
        are kept across updates (its weights never change)."""
        if self._at_start():
            return None
        with torch.inference_mode(), self._start_policy() as reference:
            records = [record for record, _ in inputs]
            ids = [ids for _, ids in inputs]
            headers = self._reference_headers if self._reference is not None or self._lora else None
            return reference.evaluate(records, ids, headers=headers).log_prob.float()

    def _at_start(self) -> bool:
        if not self._lora:
            return not self._stepped
        return all(not bool(weight.any()) for layer in self._lora for weight in _adapter_up_weights(layer))

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
        records, action_ids = self._sft_prompts(samples)
        return -self.policy.evaluate(records, action_ids).log_prob.float().mean()

    def _sft_prompts(self, samples: Sequence[dict[str, Any]]) -> tuple[list[PromptRecord], list[list[int]]]:
        """The prompt of each dataset window and the token ids of its expert action."""
        policy = self.policy
        records, action_ids = [], []
        for sample in samples:
            task = policy.task_index(str(sample["embodiment"]))
            record, target = PromptRecord.from_window(sample, policy.prompts, policy.codec, task)
            records.append(record)
            action_ids.append(target)
        return records, action_ids

    def export(self, directory: Path) -> None:
        """``save_pretrained`` (LoRA merged): loadable by ``GEAPolicy.from_pretrained`` and ``gea eval``."""
        self.policy.save_pretrained(directory)
