"""The record of what a policy was trained with: round trips, merging datasets, and the mismatch warning."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest

from gea.agents.trained_with import (
    TrainedWith,
    TrainingMismatchWarning,
    observation_options,
    resolve_env_options,
    same_option,
)


def test_only_observation_options_are_recorded_and_sizes_are_normalized() -> None:
    options = observation_options({"image_size": 32, "view": "agent", "num_levels": 200, "camera": None})
    assert options == {"image_size": [32, 32], "view": "agent"}


@pytest.mark.parametrize(
    ("key", "first", "second", "same"),
    [
        ("image_size", 32, [32, 32], True),
        ("image_size", [32, 48], (32, 48), True),
        ("image_size", 32, 64, False),
        ("view", "agent", "agent", True),
        ("view", "agent", "full", False),
    ],
)
def test_same_option(key: str, first: Any, second: Any, same: bool) -> None:
    assert same_option(key, first, second) is same


def test_json_round_trip() -> None:
    record = TrainedWith({"babyai:GoToLocal": {"image_size": [32, 32], "view": "agent"}, "procgen:coinrun": {}})
    assert TrainedWith.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    assert TrainedWith.from_dict(None) == TrainedWith()  # a checkpoint saved before the record existed


def test_datasets_that_disagree_on_an_option_leave_it_unrecorded() -> None:
    first = {"babyai:GoToLocal": {"image_size": 32, "view": "agent"}, "metaworld:reach-v3": {"image_size": 32}}
    second = {"babyai:GoToLocal": {"image_size": 32, "view": "full"}}
    record = TrainedWith.agreed([first, second])
    assert record.options("babyai:GoToLocal") == {"image_size": [32, 32]}
    assert record.options("metaworld:reach-v3") == {"image_size": [32, 32]}
    assert record.options("procgen:coinrun") == {}


def test_updated_replaces_the_given_envs_only() -> None:
    record = TrainedWith({"a": {"image_size": [32, 32]}, "b": {"image_size": [32, 32]}})
    assert record.updated({"b": {"image_size": 64, "frameskip": 4}}).envs == {
        "a": {"image_size": [32, 32]},
        "b": {"image_size": [64, 64]},
    }


def test_unset_options_come_from_training_without_a_warning() -> None:
    trained = {"image_size": [32, 32], "view": "agent"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        options = resolve_env_options(trained, {"image_size": None, "max_steps": 5}, "babyai:GoToLocal", "gea eval")
        assert options == {"image_size": [32, 32], "view": "agent", "max_steps": 5}
        assert resolve_env_options(trained, {"image_size": 32}, "babyai:GoToLocal", "gea eval")["image_size"] == 32


def test_a_different_choice_wins_with_a_warning_that_names_both_values() -> None:
    trained = {"image_size": [32, 32], "view": "agent"}
    with pytest.warns(TrainingMismatchWarning) as caught:
        options = resolve_env_options(trained, {"image_size": 64, "view": "full"}, "babyai:GoToLocal", "gea eval")
    assert options == {"image_size": 64, "view": "full"}
    messages = [str(item.message) for item in caught]
    assert any("image_size=32 px" in m and "image_size=64 px" in m and "set image_size=32" in m for m in messages)
    assert any("view='agent'" in m and "view='full'" in m for m in messages)
