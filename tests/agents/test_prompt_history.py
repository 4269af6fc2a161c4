"""Prompt layout (header, c observations interleaved with actions) and the per-env history with done masks."""

import numpy as np
import torch

import gea.envs
from gea.agents.history import ObservationHistory
from gea.agents.prompt import PromptBuilder, PromptRecord, header_text
from gea.agents.text_tokenizer import build_text_tokenizer
from gea.spec import DiscreteActions


def test_header_names_agent_actions_simulator_camera_and_instruction() -> None:
    spec = gea.envs.spec("babyai:GoToRedBall")
    text = header_text(spec, "go to the red ball")
    for part in (spec.description, spec.simulator, spec.camera, "turn left, turn right", "go to the red ball"):
        assert part in text
    continuous = header_text(gea.envs.spec("metaworld:reach-v3"), "reach")
    assert "4-dimensional continuous control" in continuous


def test_a_summarised_action_set_is_described_by_its_summary_not_every_name() -> None:
    spec = gea.envs.spec("babyai-skills:PutNextLocal")
    text = header_text(spec, "put the red ball next to the green key")
    assert spec.action.summary in text
    assert "pick up the yellow key" not in text  # 79 names would be listed without the summary
    assert len(text) < 1000
    assert DiscreteActions(("a", "b"), summary="two letters") == DiscreteActions(("a", "b"))


def test_layout_interleaves_observations_and_actions() -> None:
    builder = PromptBuilder(build_text_tokenizer(), visual_tokens=4)
    images = np.zeros((3, 8, 8, 3), np.uint8)
    record = PromptRecord("cartpole", 0, [7, 8], images, past_actions=[[100], [101, 102]])
    ids, slots = builder.layout(record)
    assert sum(slots) == 3 * 4
    assert ids[:2] == [7, 8]
    assert ids[-len(builder.action_ids) :] == builder.action_ids
    text_ids = [token for token, slot in zip(ids, slots, strict=True) if not slot]
    assert text_ids.count(100) == 1 and text_ids[-len(builder.action_ids) - len(builder.observation_ids) - 1] == 102
    batch = builder.batch([record, PromptRecord("cartpole", 0, [7], images[:1])], torch.device("cpu"))
    assert batch.ids.shape[0] == 2 and int(batch.attention_mask[1].sum()) < batch.ids.shape[1]
    assert int(batch.position_ids[1, -1]) == int(batch.attention_mask[1].sum()) - 1


def test_history_keeps_last_c_and_resets_by_done_mask() -> None:
    history = ObservationHistory(context=3)
    for step in range(5):
        for slot in range(2):
            window = history.push(slot, "cartpole", np.full((2, 2, 3), step, np.uint8))
            history.record_action(slot, [step])
    assert [int(entry.image[0, 0, 0]) for entry in window] == [2, 3, 4]
    history.reset(np.array([True, False]))
    assert len(history.push(0, "cartpole", np.zeros((2, 2, 3), np.uint8))) == 1
    assert len(history.push(1, "cartpole", np.zeros((2, 2, 3), np.uint8))) == 3
    # an observation never acted on is replaced; a slot that changes env starts over
    assert len(history.push(1, "cartpole", np.zeros((2, 2, 3), np.uint8))) == 3
    assert len(history.push(1, "babyai:GoToRedBall", np.zeros((2, 2, 3), np.uint8))) == 1
