"""The GEA policy: a multimodal LLM that emits action tokens under constrained decoding, with a value head."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import PreTrainedTokenizerBase

import gea.envs
from gea.agents.actions import ActionCodec
from gea.agents.backbone import Backbone, ImagePreprocessing
from gea.agents.config import PolicyConfig
from gea.agents.constraints import ConstraintMasks, entropy_of, masked_log_probs
from gea.agents.efficiency import apply_efficiency, merged_weights
from gea.agents.header_cache import HeaderCache, decode_after_headers, distinct_headers, header_states
from gea.agents.history import HistoryEntry, ObservationHistory
from gea.agents.interface import DoneMask, EnvRef, Observations, resolve_specs, split_observations
from gea.agents.loading import (
    TINY_MODELS,
    build_tiny_model,
    ensure_vocab,
    load_pretrained_model,
    load_text_tokenizer,
)
from gea.agents.prompt import PromptBuilder, PromptRecord, PromptTokens
from gea.agents.text_tokenizer import build_text_tokenizer
from gea.agents.trained_with import TrainedWith
from gea.agents.value import ValueHead
from gea.agents.vision.towers import EfficientNetTower, resolve_vision
from gea.errors import ConfigError
from gea.spec import EmbodimentSpec
from gea.tokenizers.multi import ContinuousChoice

POLICY_FILE = "gea_policy.json"
VALUE_FILE = "value_head.safetensors"
MODEL_DIR = "model"
ACTION_TOKENIZER_DIR = "action_tokenizer"
FORMAT_VERSION = 1


@dataclass
class ActOutput:
    """What ``act`` returns for a batch of envs."""

    actions: list[Any]
    token_ids: list[list[int]]
    log_prob: torch.Tensor
    value: torch.Tensor
    prompts: list[PromptRecord]


@dataclass
class EvaluateOutput:
    """What ``evaluate`` returns for PPO: summed log-prob and entropy over action tokens, values."""

    log_prob: torch.Tensor
    entropy: torch.Tensor
    value: torch.Tensor
    normalized_value: torch.Tensor


class GEAPolicy(nn.Module):
    """Batched acting over envs of any embodiments, PPO evaluation, and safetensors checkpoints.

    ``act`` keeps the last ``config.context`` observations of each env slot (clear them with ``reset``),
    prompts the model, decodes action tokens with a KV cache under each embodiment's constraints and returns
    env actions, the token ids, their summed log-probability and the value. ``evaluate`` recomputes
    log-probability, entropy and value of stored prompts and actions with gradients.
    """

    def __init__(
        self,
        backbone: Backbone,
        text_tokenizer: PreTrainedTokenizerBase,
        codec: ActionCodec,
        config: PolicyConfig,
        tasks: dict[str, int] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.backbone = backbone
        self.text_tokenizer = text_tokenizer
        self.codec = codec
        self.value_head = ValueHead(
            backbone.hidden_size, config.value_width, config.value_layers, config.popart_tasks, config.popart_beta
        )
        self.prompts = PromptBuilder(text_tokenizer, config.visual_tokens)
        self.masks = ConstraintMasks(backbone.vocab_size)
        self.history = ObservationHistory(config.context)
        self.headers = HeaderCache()
        self.tasks: dict[str, int] = dict(tasks or {})
        self.trained_with = TrainedWith()  # each env's observation options in training (saved with the policy)
        self._seen_specs: dict[str, EmbodimentSpec] = {}

    # ----------------------------------------------------------------------------------------- building
    @classmethod
    def build(
        cls,
        config: PolicyConfig,
        envs: Sequence[EnvRef],
        continuous: ContinuousChoice | None = None,
        codec: ActionCodec | None = None,
    ) -> GEAPolicy:
        """A new policy for ``envs``: the configured model (tiny offline default, local path or hub id), an
        action codec routing each env (``continuous``: a fitted RVQ or a factory; default uniform bins) unless
        ``codec`` is given, and a fresh value head."""
        tiny = config.model in TINY_MODELS
        text_tokenizer = build_text_tokenizer() if tiny else load_text_tokenizer(config.model, config.trust_remote_code)
        if codec is None:
            specs = resolve_specs(list(envs), len(envs))
            codec = ActionCodec.for_envs(specs, text_tokenizer, continuous, config.code_offset, config.reserved_size)
        config = dataclasses.replace(config, vision=resolve_vision(config.vision, config.model, TINY_MODELS))
        if tiny:
            model, _ = build_tiny_model(
                config.model,
                codec.min_vocab_size,
                config.seed,
                text_tokenizer,
                config.vision,
                config.vision_resolution,
                config.vision_stride,
            )
            preprocessing = ImagePreprocessing.for_model(model)
        else:
            model, _ = load_pretrained_model(config.model, config.trust_remote_code)
            local = Path(config.model) if Path(config.model).is_dir() else None
            preprocessing = ImagePreprocessing.for_model(model, local)
        return cls._assemble(model, text_tokenizer, preprocessing, codec, config, None)

    @classmethod
    def _assemble(
        cls,
        model: nn.Module,
        text_tokenizer: PreTrainedTokenizerBase,
        preprocessing: ImagePreprocessing,
        codec: ActionCodec,
        config: PolicyConfig,
        tasks: dict[str, int] | None,
    ) -> GEAPolicy:
        ensure_vocab(model, codec.min_vocab_size)
        backbone = Backbone(model, preprocessing, config.visual_tokens, config.feature_cache_mb * 2**20)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            policy = cls(backbone, text_tokenizer, codec, config, tasks)
        apply_efficiency(model, config, freeze_vision=backbone.pretrained_tower)
        return policy

    # ----------------------------------------------------------------------------------------- helpers
    @property
    def device(self) -> torch.device:
        """Device of the model."""
        return self.backbone.embed_device

    def task_index(self, env_id: str) -> int:
        """The PopArt slot of ``env_id`` (assigned on first sight, saved with the policy)."""
        if env_id not in self.tasks:
            if len(self.tasks) >= self.config.popart_tasks:
                raise ConfigError(f"more than popart_tasks={self.config.popart_tasks} environments; raise popart_tasks")
            self.tasks[env_id] = len(self.tasks)
        return self.tasks[env_id]

    def _spec_of(self, env_id: str) -> EmbodimentSpec:
        return self._seen_specs.get(env_id) or gea.envs.spec(env_id)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.config.bf16 and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _embed_prompts(self, tokens: PromptTokens, features: torch.Tensor) -> torch.Tensor:
        embeds = self.backbone.embed(tokens.ids)
        return embeds.masked_scatter(tokens.image_mask.unsqueeze(-1), features.to(embeds.dtype))

    def invalidate_cache(self) -> None:
        """Forget what the last weights computed (prompt headers; the history's visual features unless the whole
        image path is frozen); call after every optimizer step on the model."""
        if not self.backbone.image_path_frozen:
            self.history.drop_features()
        self.headers.clear()

    def reset(self, done: DoneMask = None) -> None:
        """Clear the observation history of every env slot whose ``done`` flag is set (all when None)."""
        self.history.reset(done)

    # ----------------------------------------------------------------------------------------- acting
    def _window_features(self, windows: Sequence[Sequence[HistoryEntry]]) -> None:
        missing = [entry for window in windows for entry in window if entry.features is None]
        if missing:
            images = torch.from_numpy(np.stack([entry.image for entry in missing]))
            features = self.backbone.image_features(images)
            for entry, feature in zip(missing, features, strict=True):
                entry.features = feature

    def act(self, observations: Observations, envs: EnvRef | Sequence[EnvRef], greedy: bool = False) -> ActOutput:
        """Actions for a batch of envs (each may be a different embodiment); ``envs`` gives each env's id or spec.

        Runs under ``torch.inference_mode``; the returned log-probs and values are ordinary tensors (usable
        as constants in a PPO loss).
        """
        out = self._act(observations, envs, greedy)
        out.log_prob, out.value = out.log_prob.clone(), out.value.clone()
        return out

    @torch.inference_mode()
    def _act(self, observations: Observations, envs: EnvRef | Sequence[EnvRef], greedy: bool) -> ActOutput:
        rows = split_observations(observations)
        specs = resolve_specs(envs, len(rows))
        self._seen_specs.update((spec.id, spec) for spec in specs)
        windows, records = [], []
        for index, (row, spec) in enumerate(zip(rows, specs, strict=True)):
            window = self.history.push(index, spec.id, np.asarray(row["image"]))
            windows.append(window)
            records.append(
                PromptRecord(
                    env_id=spec.id,
                    task=self.task_index(spec.id),
                    header_ids=self.prompts.header_ids(spec, str(row.get("instruction", ""))),
                    images=np.stack([entry.image for entry in window]),
                    past_actions=[list(entry.action or []) for entry in window[:-1]],
                )
            )
        with self._autocast():
            self._window_features(windows)
            per_row = [torch.cat([entry.features for entry in window]) for window in windows]  # type: ignore[misc]
            cache, header_mask, header_lengths = self.headers.batch(
                self.backbone, [record.header_ids for record in records]
            )
            window = self.prompts.batch(records, self.device, with_header=False)
            embeds = self._embed_prompts(window, torch.cat(per_row))
            attention = torch.cat([header_mask, window.attention_mask], dim=1)
            positions = header_lengths[:, None] + window.position_ids
            last = self.backbone.decode_last(embeds, attention, positions, cache)
            visual_mean = torch.stack([features.mean(0) for features in per_row]).to(last.dtype)
            tasks = torch.tensor([record.task for record in records], device=self.device)
            normalized = self.value_head(last, visual_mean, tasks)
            token_ids, log_prob = self._decode(last, cache, attention, positions[:, -1:], specs, greedy)
        for index, ids in enumerate(token_ids):
            self.history.record_action(index, ids)
        actions = [self.codec.decode(spec, ids) for spec, ids in zip(specs, token_ids, strict=True)]
        value = self.value_head.popart.denormalize(normalized.float(), tasks)
        return ActOutput(actions, token_ids, log_prob, value, records)

    def _decode(
        self,
        last: torch.Tensor,
        cache: Any,
        attention: torch.Tensor,
        position: torch.Tensor,
        specs: Sequence[EmbodimentSpec],
        greedy: bool,
    ) -> tuple[list[list[int]], torch.Tensor]:
        """Action token ids of each row and their summed log-probability under the constrained distribution,
        decoding from the prompt's last hidden states ``last`` with the KV ``cache``.

        A row whose action is complete may only emit the pad id (log-prob exactly 0), which is what it feeds to
        the model until every row is complete. When each unfinished row's remaining tokens are forced (one valid
        id, then the end), they are appended without a model call.
        """
        env_ids = [spec.id for spec in specs]
        rules = [self.codec.allowed_next_fn(spec) for spec in specs]
        emitted: list[list[int]] = [[] for _ in specs]
        log_prob = torch.zeros(len(specs), device=self.device)
        steps = self.codec.max_tokens(specs)
        attention = torch.cat([attention, attention.new_ones(len(specs), steps)], dim=1)
        width = attention.shape[1] - steps
        hidden, pad = last, self.prompts.pad_id
        for step in range(steps):
            mask = self.masks.masks(env_ids, rules, emitted, self.device, complete_id=pad)
            log_probs = masked_log_probs(self.backbone.logits(hidden), mask, self.config.temperature)
            chosen = log_probs.argmax(-1) if greedy else torch.multinomial(log_probs.exp(), 1).squeeze(-1)
            log_prob += log_probs.gather(-1, chosen[:, None]).squeeze(-1)  # 0 for complete rows
            active = self._extend(env_ids, rules, emitted, chosen.tolist())
            if not any(active):
                break
            endings = self._forced_endings(env_ids, rules, emitted, active)
            if endings is not None:  # each remaining token is certain (log-prob 0): no model call needed
                for row, token in endings.items():
                    emitted[row].append(token)
                break
            hidden = self.backbone.decode_last(
                self.backbone.embed(chosen[:, None]), attention[:, : width + step + 1], position + step + 1, cache
            )
        return emitted, log_prob

    def _extend(
        self, env_ids: Sequence[str], rules: Sequence[Any], emitted: Sequence[list[int]], chosen: Sequence[int]
    ) -> list[bool]:
        """Append each unfinished row's ``chosen`` id; whether each row's action still goes on afterwards."""
        active = []
        for env_id, rule, ids, token in zip(env_ids, rules, emitted, chosen, strict=True):
            if self.masks.allowed(env_id, rule, ids).numel():
                ids.append(token)
                active.append(bool(self.masks.allowed(env_id, rule, ids).numel()))
            else:
                active.append(False)
        return active

    def _forced_endings(
        self, env_ids: Sequence[str], rules: Sequence[Any], emitted: Sequence[list[int]], active: Sequence[bool]
    ) -> dict[int, int] | None:
        """``{row: id}`` when every active row has exactly one valid next id and that id completes its action
        (e.g. the end token after a whole action name); None otherwise."""
        endings = {}
        for row, is_active in enumerate(active):
            if not is_active:
                continue
            allowed = self.masks.allowed(env_ids[row], rules[row], emitted[row])
            if allowed.numel() != 1:
                return None
            token = int(allowed[0])
            if self.masks.allowed(env_ids[row], rules[row], [*emitted[row], token]).numel():
                return None
            endings[row] = token
        return endings

    # ----------------------------------------------------------------------------------------- PPO
    @property
    def shares_prefix(self) -> bool:
        """Whether batches run each distinct header once (``config.shared_prefix``; never with gradient
        checkpointing, which drops the KV cache the windows attend to)."""
        return self.config.shared_prefix and not self.config.gradient_checkpointing

    def evaluate(
        self,
        prompts: Sequence[PromptRecord],
        action_ids: Sequence[Sequence[int]],
        headers: HeaderCache | None = None,
    ) -> EvaluateOutput:
        """Log-prob (sum over action tokens), entropy (sum over positions) and value of stored prompts/actions.

        ``headers``: a store of header states to reuse and fill (only valid while the weights stay as they were
        when it was filled, e.g. for the fixed start policy; without it every distinct header runs here).
        """
        specs = [self._spec_of(record.env_id) for record in prompts]
        shared = self.shares_prefix
        with self._autocast():
            per_row = self._record_features(prompts)
            tokens = self.prompts.batch(prompts, self.device, with_header=not shared)
            width = max((len(ids) for ids in action_ids), default=0)
            actions = torch.full((len(prompts), width), self.prompts.pad_id, dtype=torch.long)
            valid = torch.zeros(len(prompts), width, dtype=torch.bool)
            for row, ids in enumerate(action_ids):
                actions[row, : len(ids)] = torch.tensor(list(ids), dtype=torch.long)
                valid[row, : len(ids)] = True
            actions, valid = actions.to(self.device), valid.to(self.device)
            ids = torch.cat([tokens.ids, actions], dim=1)
            image_mask = torch.cat([tokens.image_mask, torch.zeros_like(valid)], dim=1)
            attention = torch.cat([tokens.attention_mask, valid.long()], dim=1)
            full = PromptTokens(ids, image_mask, attention)
            embeds = self._embed_prompts(full, torch.cat(per_row))
            if shared:
                distinct, rows = distinct_headers([record.header_ids for record in prompts])
                if headers is None:
                    states = header_states(self.backbone, distinct)
                else:
                    states = headers.states(self.backbone, distinct)
                rows_states = [states[index] for index in rows]
                hidden = decode_after_headers(self.backbone, rows_states, embeds, attention, full.position_ids)
            else:
                hidden, _ = self.backbone.decode_hidden(embeds, attention, full.position_ids)
            start = tokens.ids.shape[1] - 1
            mask = self._teacher_masks(specs, action_ids, width)
            log_prob, entropy = self._action_scores(hidden[:, start : start + width], mask, actions, valid)
            visual_mean = torch.stack([row.mean(0) for row in per_row]).to(hidden.dtype)
            tasks = torch.tensor([record.task for record in prompts], device=self.device)
            normalized = self.value_head(hidden[:, start], visual_mean, tasks).float()
        value = self.value_head.popart.denormalize(normalized, tasks)
        return EvaluateOutput(log_prob, entropy, value, normalized)

    def _action_scores(
        self, hidden: torch.Tensor, mask: torch.Tensor, actions: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed log-prob of the taken ``actions`` and summed entropy over each row's ``valid`` positions, from the
        hidden states before each action token and the (rows, positions, vocab) constraint masks.

        Only the valid positions reach the output head, and only for the ids some position may emit (or took): ids
        that are masked everywhere get probability 0 either way, so the result is that of the whole vocabulary.
        """
        rows = valid.nonzero()[:, 0]
        allowed, taken = mask[valid], actions[valid]
        ids = torch.unique(torch.cat([allowed.any(0).nonzero()[:, 0], taken]))
        lookup = torch.zeros(mask.shape[-1], dtype=torch.long, device=ids.device)
        lookup[ids] = torch.arange(len(ids), device=ids.device)
        log_probs = masked_log_probs(self.backbone.logits(hidden[valid], ids), allowed[:, ids], self.config.temperature)
        taken_log_prob = log_probs.gather(-1, lookup[taken][:, None]).squeeze(-1)
        zeros = torch.zeros(len(valid), dtype=log_probs.dtype, device=log_probs.device)
        return zeros.index_add(0, rows, taken_log_prob), zeros.index_add(0, rows, entropy_of(log_probs))

    def _record_features(self, prompts: Sequence[PromptRecord]) -> list[torch.Tensor]:
        """Each prompt's visual tokens, (images x visual_tokens, hidden): one tower call per image size."""
        sizes: dict[tuple[int, ...], list[int]] = {}
        for row, record in enumerate(prompts):
            sizes.setdefault(record.images.shape[1:], []).append(row)
        per_row: list[torch.Tensor | None] = [None] * len(prompts)
        for rows in sizes.values():
            features = self.backbone.image_features(np.concatenate([prompts[row].images for row in rows]))
            counts = [len(prompts[row].images) for row in rows]
            for row, part in zip(rows, torch.split(features, counts), strict=True):
                per_row[row] = part.reshape(-1, features.shape[-1])
        return per_row  # type: ignore[return-value]

    def _teacher_masks(
        self, specs: Sequence[EmbodimentSpec], action_ids: Sequence[Sequence[int]], width: int
    ) -> torch.Tensor:
        """(batch, width, vocab) constraint masks at each position given the actual preceding action ids."""
        env_ids = [spec.id for spec in specs]
        rules = [self.codec.allowed_next_fn(spec) for spec in specs]
        masks = [
            self.masks.masks(env_ids, rules, [list(ids[:position]) for ids in action_ids], self.device)
            for position in range(width)
        ]
        if not masks:
            return torch.zeros(len(specs), 0, self.backbone.vocab_size, dtype=torch.bool, device=self.device)
        return torch.stack(masks, dim=1)

    # ----------------------------------------------------------------------------------------- checkpoints
    def save_pretrained(self, directory: str | Path) -> Path:
        """Write model (safetensors, LoRA merged), text tokenizer, value head, action tokenizer and config."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        model = self.backbone.model
        with merged_weights(model) as state:
            model.save_pretrained(path / MODEL_DIR, state_dict=state)
        self.text_tokenizer.save_pretrained(path / MODEL_DIR)
        save_file({key: value.contiguous() for key, value in self.value_head.state_dict().items()}, path / VALUE_FILE)
        self.codec.save(path / ACTION_TOKENIZER_DIR)
        preprocessing = self.backbone.preprocessing
        meta = {
            "format_version": FORMAT_VERSION,
            "config": {**self.config.to_dict(), "trust_remote_code": False},  # trust is the loader's choice
            "tasks": self.tasks,
            "trained_with": self.trained_with.to_dict(),
            "image_preprocessing": {"size": preprocessing.size, "mean": preprocessing.mean, "std": preprocessing.std},
        }
        (path / POLICY_FILE).write_text(json.dumps(meta, indent=2))
        return path

    @classmethod
    def from_pretrained(cls, directory: str | Path, trust_remote_code: bool = False, **overrides: Any) -> GEAPolicy:
        """Load a policy written by ``save_pretrained`` (JSON + safetensors only; never unpickles).

        ``trust_remote_code`` is the caller's decision alone: whatever the checkpoint's own files say, model code
        shipped inside it runs only when the caller passes ``trust_remote_code=True``.
        """
        path = Path(directory)
        if not (path / POLICY_FILE).is_file():
            raise ConfigError(f"{path} is not a GEA policy checkpoint ({POLICY_FILE} missing); save one first")
        meta = json.loads((path / POLICY_FILE).read_text())
        stored = dict(meta["config"])
        if stored.pop("trust_remote_code", False) and not trust_remote_code:
            warnings.warn(
                f"{path / POLICY_FILE} asks for trust_remote_code; ignored (only the caller decides trust: pass "
                "trust_remote_code=True, or policy.trust_remote_code=true on the command line, if you trust it)",
                stacklevel=2,
            )
        config = PolicyConfig.from_dict({**stored, **overrides, "trust_remote_code": trust_remote_code})
        model, text_tokenizer = load_pretrained_model(path / MODEL_DIR, trust_remote_code)
        image = meta["image_preprocessing"]
        preprocessing = ImagePreprocessing(tuple(image["size"]), tuple(image["mean"]), tuple(image["std"]))
        codec = ActionCodec.load(path / ACTION_TOKENIZER_DIR)
        config.vision = _tower_name(model, config.model)
        tower = getattr(model.model, "vision_tower", None)
        if isinstance(tower, EfficientNetTower):  # the checkpoint's tower decides, whatever the overrides say
            config.vision_resolution, config.vision_stride = int(preprocessing.size[0]), tower.stride
        policy = cls._assemble(model, text_tokenizer, preprocessing, codec, config, meta["tasks"])
        policy.value_head.load_state_dict(load_file(str(path / VALUE_FILE)))
        policy.trained_with = TrainedWith.from_dict(meta.get("trained_with"))
        return policy

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters that require gradients (LoRA/unfrozen model weights and the value head)."""
        return (parameter for parameter in self.parameters() if parameter.requires_grad)


def saved_trained_with(directory: str | Path) -> TrainedWith:
    """The ``trained_with`` record of the policy saved in ``directory``, read without loading the model."""
    path = Path(directory) / POLICY_FILE
    if not path.is_file():
        raise ConfigError(f"{Path(directory)} is not a GEA policy checkpoint ({POLICY_FILE} missing); save one first")
    return TrainedWith.from_dict(json.loads(path.read_text()).get("trained_with"))


def _tower_name(model: nn.Module, model_name: str) -> str:
    """The ``PolicyConfig.vision`` value that describes ``model``'s vision tower."""
    if isinstance(getattr(model.model, "vision_tower", None), EfficientNetTower):
        return EfficientNetTower.name
    return "siglip" if model_name in TINY_MODELS else "native"
