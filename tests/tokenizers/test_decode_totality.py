"""Decoding is total for every tokenizer: any input (bf16/float/int tensors and arrays, None, scalars, strings,
lists with junk, nested lists) gives in-bounds actions by the documented rule, never an exception."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tokenizer_fixtures import smooth_actions, tiny_rvq_configs

from gea.envs.spec import ContinuousActions, DiscreteActions, EmbodimentSpec, TextActions
from gea.tokenizers import (
    ActionStats,
    FASTTokenizer,
    MultiEmbodimentTokenizer,
    ResidualVQTokenizer,
    SemanticTokenizer,
    UIGrammarTokenizer,
    UniformBinTokenizer,
    chunk_actions,
)
from gea.tokenizers.base import safe_sequences

NAMES = ("turn left", "turn right", "move forward", "pick up", "drop", "toggle", "done")
UI_SPEC = TextActions(grammar=("click X Y", 'type "TEXT"', "key K"), grid=50, max_length=12)
UI_VALID = re.compile(r'click (\d|[1-4]\d) (\d|[1-4]\d)|type ".{0,12}"|key [A-Z]+', re.DOTALL)
STATS = ActionStats.from_bounds([-1.0, 0.0, -5.0], [1.0, 2.0, 5.0])
ARM = EmbodimentSpec("arm", "manipulation", ContinuousActions(3, (-1.0,) * 3, (1.0,) * 3), "an arm", "sim")
GRID = EmbodimentSpec("grid", "navigation", DiscreteActions(NAMES), "a grid", "sim")
WEB = EmbodimentSpec("web", "ui", UI_SPEC, "a browser", "sim")


@dataclass
class Case:
    """One tokenizer's decode, a check that one decoded action is valid, and ids of real actions."""

    decode: Callable[[Any], Any]
    valid: Callable[[Any], bool]
    ids: list[list[int]]


def _in_box(low: np.ndarray, high: np.ndarray) -> Callable[[Any], bool]:
    return lambda action: bool(
        np.all(np.isfinite(action)) and np.all(action >= low - 1e-6) and np.all(action <= high + 1e-6)
    )


@pytest.fixture(scope="module")
def cases(text_tokenizer: Any) -> dict[str, Case]:
    uniform = UniformBinTokenizer(32, STATS)
    actions = np.random.default_rng(0).uniform(STATS.low, STATS.high, size=(4, 3)).astype(np.float32)
    model, train = tiny_rvq_configs(steps=40)
    rvq = ResidualVQTokenizer(model, train).fit({"arm": np.tanh(smooth_actions(600, 3))}, progress=False)
    arm = rvq.for_embodiment("arm")
    steps = np.linspace(0, 6, 200)[:, None]
    chunks = chunk_actions(np.sin(steps + np.array([0.0, 1.0, 2.0])), 8)
    fast = FASTTokenizer(chunk=8, scale=20.0, bpe_vocab_size=300).fit(chunks)
    semantic = SemanticTokenizer.from_text_tokenizer(NAMES, text_tokenizer)
    ui = UIGrammarTokenizer(UI_SPEC, text_tokenizer)
    multi = MultiEmbodimentTokenizer.from_specs(
        [ARM, GRID, WEB], continuous=rvq, text_tokenizer=text_tokenizer, code_offset=1000, reserved_size=64
    )
    is_name = lambda index: 0 <= int(index) < len(NAMES)  # noqa: E731
    is_ui = lambda text: isinstance(text, str) and UI_VALID.fullmatch(text) is not None  # noqa: E731
    ui_actions = ["click 3 49", 'type "hi"', "key ENTER"]
    return {
        "uniform": Case(uniform.decode, _in_box(STATS.low, STATS.high), uniform.encode(actions)),
        "rvq": Case(arm.decode, _in_box(rvq.stats["arm"].low, rvq.stats["arm"].high), arm.encode(np.tanh(actions))),
        "fast": Case(fast.decode, _in_box(fast.stats.low, fast.stats.high), fast.encode(chunks[:3])),
        "semantic": Case(semantic.decode, is_name, semantic.encode(list(NAMES))),
        "ui_grammar": Case(ui.decode, is_ui, ui.encode(ui_actions)),
        "multi:arm": Case(lambda x: multi.decode("arm", x), _in_box(-np.ones(3), np.ones(3)), []),
        "multi:grid": Case(lambda x: multi.decode("grid", x), is_name, multi.encode("grid", [0, 3, 6])),
        "multi:web": Case(lambda x: multi.decode("web", x), is_ui, multi.encode("web", ui_actions)),
    }


TOKENIZERS = ["uniform", "rvq", "fast", "semantic", "ui_grammar", "multi:arm", "multi:grid", "multi:web"]

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.integers(-3, 1200),  # near and inside every tokenizer's id range
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.binary(max_size=3),
)
DTYPES = st.sampled_from(["int64", "int32", "uint8", "float64", "float32", "float16", "bool"])
ARRAYS = DTYPES.flatmap(lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)))
TENSOR_DTYPES = st.sampled_from([torch.bfloat16, torch.float16, torch.float32, torch.int64, torch.int16, torch.bool])
TENSORS = st.builds(
    lambda array, dtype: torch.tensor(np.nan_to_num(array, posinf=9e3, neginf=-9e3)).to(dtype),
    hnp.arrays("float64", hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)),
    TENSOR_DTYPES,
)
ANYTHING = st.recursive(
    st.one_of(SCALARS, ARRAYS, TENSORS),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner)),
    max_leaves=12,
)


def _actions(decoded: Any) -> list[Any]:
    return list(decoded) if not isinstance(decoded, np.ndarray) else [decoded[i] for i in range(len(decoded))]


@pytest.mark.parametrize("name", TOKENIZERS)
@settings(max_examples=60, deadline=None)
@given(ids=ANYTHING)
def test_any_input_decodes_to_valid_actions(cases: dict[str, Case], name: str, ids: Any) -> None:
    case = cases[name]
    actions = _actions(case.decode(ids))
    assert len(actions) == len(safe_sequences(ids))
    assert all(case.valid(action) for action in actions)


@pytest.mark.parametrize("name", TOKENIZERS)
def test_the_batch_rule(cases: dict[str, Case], name: str) -> None:
    decode = cases[name].decode
    assert len(_actions(decode(None))) == 1  # no ids: one action, the fallback
    assert len(_actions(decode(7))) == 1  # a bare scalar: one sequence of one id
    assert len(_actions(decode(np.int64(7)))) == 1
    assert len(_actions(decode(torch.tensor(7)))) == 1
    assert len(_actions(decode("turn left"))) == 1  # text is not ids
    assert len(_actions(decode([3, 5]))) == 1  # a flat list: one sequence
    assert len(_actions(decode(torch.tensor([3, 5], dtype=torch.bfloat16)))) == 1
    assert len(_actions(decode([[3, 5], None, 4, "x", [[1]]]))) == 5  # a batch with junk rows
    assert len(_actions(decode(torch.zeros(4, 2, dtype=torch.bfloat16)))) == 4
    assert len(_actions(decode([]))) == 0 and len(_actions(decode(np.zeros((0, 2))))) == 0


@pytest.mark.parametrize("name", TOKENIZERS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64, torch.bfloat16])
def test_real_ids_decode_the_same_from_any_tensor_dtype(cases: dict[str, Case], name: str, dtype: torch.dtype) -> None:
    case = cases[name]
    ids = [row for row in case.ids if dtype != torch.bfloat16 or max(row, default=0) <= 256]  # bf16 is exact to 256
    if not ids:
        return
    width = max(len(row) for row in ids)
    if any(len(row) != width for row in ids):
        ids = [row for row in ids if len(row) == width]  # a tensor needs rows of one length
    expected = _actions(case.decode(ids))
    got = _actions(case.decode(torch.tensor(ids, dtype=torch.float64).to(dtype)))
    assert [np.asarray(a).tolist() for a in got] == [np.asarray(a).tolist() for a in expected]
