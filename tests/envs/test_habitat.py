"""Habitat adapter: specs without the simulator, the install message, and (with habitat-sim) the contract."""

import importlib.util

import numpy as np
import pytest

import gea.envs
from gea.envs.adapters.habitat_tasks import HABITAT_TASKS
from gea.errors import MissingDependencyError
from gea.spec import ContinuousActions

HABITAT_IDS = [f"habitat:{name}" for name in HABITAT_TASKS]


def test_specs_are_listed_even_without_habitat() -> None:
    assert set(HABITAT_IDS) <= set(gea.envs.list_envs(contains="habitat:"))
    assert {"habitat:Pick", "habitat:Place", "habitat:Nav", "habitat:Rearrange"} <= set(HABITAT_IDS)
    for env_id in HABITAT_IDS:
        spec = gea.envs.spec(env_id)
        assert spec.extra == "habitat" and isinstance(spec.action, ContinuousActions)
    assert gea.envs.spec("habitat:Pick").action.dim == 10 and gea.envs.spec("habitat:Pick").domain == "manipulation"
    assert gea.envs.spec("habitat:Nav").action.dim == 3 and gea.envs.spec("habitat:Nav").domain == "navigation"


@pytest.mark.skipif(importlib.util.find_spec("habitat_sim") is not None, reason="habitat-sim is installed here")
def test_make_without_habitat_sim_says_how_to_install() -> None:
    with pytest.raises(MissingDependencyError) as error:
        gea.envs.make("habitat:Pick")
    message = str(error.value)
    assert "habitat_sim" in message
    assert "conda install habitat-sim -c conda-forge -c aihabitat" in message
    assert "pip install 'gea[habitat]'" in message


@pytest.mark.parametrize("env_id", ["habitat:Pick", "habitat:Nav"])
def test_real_simulator_follows_the_contract(env_id: str) -> None:
    pytest.importorskip("habitat_sim", reason="habitat-sim is not installed (conda only)")
    env = gea.envs.make(env_id, image_size=64)
    obs, info = env.reset(seed=0)
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
    assert info["success"] is False and obs["instruction"]
    _, _, _, _, info = env.step(env.action_space.sample())
    assert isinstance(info["success"], bool)
    again, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs["image"], again["image"])
    env.close()
