"""Multi-embodiment routing, reserved id range, constrained-decoding masks, save/load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tokenizer_fixtures import smooth_actions, tiny_rvq_configs

from gea.errors import ConfigError
from gea.spec import ContinuousActions, DiscreteActions, EmbodimentSpec, TextActions
from gea.tokenizers import MultiEmbodimentTokenizer, ResidualVQTokenizer, UniformBinTokenizer

ARM = EmbodimentSpec("arm", "manipulation", ContinuousActions(4, (-1.0,) * 4, (1.0,) * 4), "an arm", "sim")
GRID = EmbodimentSpec("grid", "navigation", DiscreteActions(("turn left", "turn right", "done")), "a grid", "sim")
GRID2 = EmbodimentSpec("grid2", "navigation", DiscreteActions(("turn left", "turn right", "done")), "a grid", "sim")
WEB = EmbodimentSpec("web", "ui", TextActions(("click X Y", 'type "TEXT"'), max_length=8), "a browser", "sim")
OFFSET = 1000


@pytest.fixture(scope="module")
def multi(text_tokenizer: Any) -> MultiEmbodimentTokenizer:
    """RVQ for the arm, semantic names for two grid worlds, UI grammar for the browser."""
    model, train = tiny_rvq_configs(steps=60)
    rvq = ResidualVQTokenizer(model, train).fit({"arm": np.tanh(smooth_actions(800, 4))}, progress=False)
    return MultiEmbodimentTokenizer.from_specs(
        [ARM, GRID, GRID2, WEB], continuous=rvq, text_tokenizer=text_tokenizer, code_offset=OFFSET, reserved_size=64
    )


def test_codes_live_in_the_reserved_range(multi: MultiEmbodimentTokenizer) -> None:
    actions = np.tanh(smooth_actions(10, 4, seed=9))
    ids = np.array(multi.encode("arm", actions))
    assert ids.shape == (10, 2) and ids.min() >= OFFSET and ids.max() < OFFSET + 32
    local = multi.tokenizer("arm").decode((ids - OFFSET).tolist())
    np.testing.assert_array_equal(multi.decode("arm", ids.tolist()), local)


def test_masks_for_constrained_decoding(multi: MultiEmbodimentTokenizer) -> None:
    positions = multi.position_masks("arm")
    assert positions.shape == (2, multi.llm_vocab_size)
    assert positions[:, OFFSET : OFFSET + 32].all() and positions.sum() == 64
    grid_first = multi.mask("grid")
    assert grid_first.sum() == len(multi.tokenizer("grid").allowed_next([]))
    free_text = multi.allowed_next("web", multi.encode("web", ['type "hi"'])[0][:1])
    assert not np.any((free_text >= OFFSET) & (free_text < OFFSET + 64))
    with pytest.raises(ConfigError, match="prefix tree"):
        multi.position_masks("grid")


def test_same_action_set_shares_one_tokenizer(multi: MultiEmbodimentTokenizer) -> None:
    assert multi.tokenizer("grid") is multi.tokenizer("grid2")


def test_decode_is_total_across_embodiments(multi: MultiEmbodimentTokenizer) -> None:
    garbage = [[], [5, OFFSET + 500, -1], [OFFSET + 3]]
    assert multi.decode("arm", garbage).shape == (3, 4)
    assert set(multi.decode("grid", garbage).tolist()) <= {0, 1, 2}
    assert all(action.startswith(("click", "type")) for action in multi.decode("web", garbage))


def test_save_load_round_trip(multi: MultiEmbodimentTokenizer, tmp_path: Path) -> None:
    loaded = MultiEmbodimentTokenizer.load(multi.save(tmp_path / "multi"))
    assert loaded.embodiments == multi.embodiments and loaded.tokenizer("grid") is loaded.tokenizer("grid2")
    assert len(list((tmp_path / "multi" / "parts").iterdir())) == 3
    ids = [[OFFSET + 1, OFFSET + 2], [OFFSET + 31]]
    np.testing.assert_array_equal(loaded.decode("arm", ids), multi.decode("arm", ids))
    web = multi.encode("web", ["click 4 5", 'type "ok"'])
    assert loaded.decode("web", web) == ["click 4 5", 'type "ok"']
    assert (loaded.mask("grid", []) == multi.mask("grid", [])).all()


def test_codebook_larger_than_the_reserved_block_is_refused() -> None:
    bins = UniformBinTokenizer(256).fit(np.zeros((2, 2), np.float32))
    with pytest.raises(ConfigError, match="reserved_size"):
        MultiEmbodimentTokenizer({"x": bins}, code_offset=0, reserved_size=128)
