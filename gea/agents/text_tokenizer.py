"""An offline text tokenizer for the tiny default model: byte-level BPE trained on the prompt vocabulary."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

import gea.envs
from gea.spec import DiscreteActions, TextActions

PAD_TOKEN = "<pad>"
EOS_TOKEN = "</s>"
IMAGE_TOKEN = "<image>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD_TOKEN, EOS_TOKEN, IMAGE_TOKEN)

PROMPT_WORDS = (
    "You are an agent. Simulator: Camera: Available actions: Instruction: Observation: Action: "
    "continuous control with values in the range tokens per action; commands follow the grammar "
    "click type key scroll press move turn pick place open close push pull reach go to the a an of and "
    "robot arm gripper end-effector position delta left right up down forward backward jump fire noop "
    "0 1 2 3 4 5 6 7 8 9 red green blue yellow purple grey ball box key door"
)


def prompt_corpus() -> list[str]:
    """Texts the tiny tokenizer is trained on: prompt words plus every registered env's description and actions."""
    texts = [PROMPT_WORDS]
    for env_id in gea.envs.list_envs():
        spec = gea.envs.spec(env_id)
        texts += [spec.description, spec.simulator, spec.camera]
        if isinstance(spec.action, DiscreteActions):
            texts += [prefix + name for name in spec.action.names for prefix in ("", " ")]
        elif isinstance(spec.action, TextActions):
            texts += list(spec.action.grammar)
    return texts


def build_text_tokenizer(vocab_size: int = 1024, corpus: Iterable[str] | None = None) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (any text encodes) of at most ``vocab_size`` ids, trained here, offline."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(corpus if corpus is not None else prompt_corpus()), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD_TOKEN,
        eos_token=EOS_TOKEN,
        extra_special_tokens={"image_token": IMAGE_TOKEN},
    )
