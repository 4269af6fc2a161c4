"""The GEA policy on the tiny default model: acting through the real env layer, PPO evaluation, checkpoints."""

import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import gea.envs
from gea.agents import GEAPolicy, PolicyConfig
from gea.agents.constraints import ConstraintLogitsProcessor
from gea.spec import ContinuousActions, DiscreteActions

ENV_IDS = ["metaworld:reach-v3", "babyai:GoToRedBall", "procgen:coinrun", "cartpole"]
UI_ID = "miniwob:click-test"
UI_COMMANDS = ("click", "type", "key", "scroll", "wait")


@pytest.fixture(scope="module")
def policy() -> GEAPolicy:
    torch.manual_seed(0)
    return GEAPolicy.build(PolicyConfig(), [*ENV_IDS, UI_ID]).eval()


def _observations(step: int, count: int, size: int = 32) -> list[dict[str, Any]]:
    rng = np.random.default_rng(step)
    images = rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)
    return [{"image": image, "instruction": f"task {index % 2}"} for index, image in enumerate(images)]


def _check_valid(env_id: str, action: Any) -> None:
    spec = gea.envs.spec(env_id).action
    if isinstance(spec, DiscreteActions):
        assert isinstance(action, int) and 0 <= action < spec.n
    elif isinstance(spec, ContinuousActions):
        assert action.shape == (spec.dim,) and action.dtype == np.float32
        assert np.all(action >= np.array(spec.low)) and np.all(action <= np.array(spec.high))
    else:
        assert isinstance(action, str) and action.split(" ")[0] in UI_COMMANDS


def _play(policy: GEAPolicy, env_ids: list[str], steps: int) -> None:
    envs = [gea.envs.make(env_id, image_size=32) for env_id in env_ids]
    try:
        observations = [env.reset(seed=index)[0] for index, env in enumerate(envs)]
        policy.reset(None)
        for step in range(steps):
            out = policy.act(observations, env_ids, greedy=step % 2 == 0)
            done = []
            for env_id, env, action in zip(env_ids, envs, out.actions, strict=True):
                _check_valid(env_id, action)
                observation, _, terminated, truncated, _ = env.step(action)  # the contract rejects invalid actions
                if terminated or truncated:
                    observation, _ = env.reset()
                observations[env_ids.index(env_id)] = observation
                done.append(terminated or truncated)
            policy.reset(np.array(done))
            assert all(len(prompt.images) == min(step + 1, 3) or d for prompt, d in zip(out.prompts, done, strict=True))
    finally:
        for env in envs:
            env.close()


def test_acts_validly_in_real_envs_of_several_embodiments(policy: GEAPolicy) -> None:
    _play(policy, ENV_IDS, steps=4)


def test_acts_validly_in_a_ui_env_batched_with_others(policy: GEAPolicy) -> None:
    if not gea.envs.is_available(UI_ID) or shutil.which("chromedriver") is None:
        pytest.skip("MiniWoB needs the 'ui' extra (miniwob, selenium) and chromedriver")
    _play(policy, [UI_ID, "babyai:GoToRedBall"], steps=2)


def test_evaluate_reproduces_act(policy: GEAPolicy) -> None:
    env_ids = ENV_IDS * 2
    policy.reset(None)
    for step in range(4):
        out = policy.act(_observations(step, len(env_ids)), env_ids, greedy=step == 0)
    assert all(len(prompt.images) == 3 and len(prompt.past_actions) == 2 for prompt in out.prompts)
    evaluated = policy.evaluate(out.prompts, out.token_ids)
    torch.testing.assert_close(evaluated.log_prob.detach(), out.log_prob, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(evaluated.value.detach(), out.value, rtol=1e-4, atol=1e-4)
    assert bool((evaluated.entropy > 0).all()) and bool((out.log_prob < 0).all())
    advantages = out.value - evaluated.value  # act's outputs are ordinary tensors, usable in a PPO loss
    ratio = (evaluated.log_prob - out.log_prob).exp()
    (ratio * advantages).sum().backward()
    assert policy.value_head.popart.linear.weight.grad is not None
    assert policy.backbone.language_model.layers[0].self_attn.q_proj.weight.grad is not None
    policy.zero_grad()


def test_history_is_per_env_and_reset_by_done_mask(policy: GEAPolicy) -> None:
    env_ids = ENV_IDS[:2]
    policy.reset(None)
    first = policy.act(_observations(0, 2), env_ids)
    second = policy.act(_observations(1, 2), env_ids)
    assert second.prompts[0].past_actions == [first.token_ids[0]]
    np.testing.assert_array_equal(second.prompts[1].images[0], _observations(0, 2)[1]["image"])
    policy.reset([True, False])
    third = policy.act(_observations(2, 2), env_ids)
    assert len(third.prompts[0].images) == 1 and len(third.prompts[1].images) == 3


def test_act_matches_hf_generate_with_the_same_constraints(policy: GEAPolicy) -> None:
    env_ids = ENV_IDS
    policy.reset(None)
    out = policy.act(_observations(5, len(env_ids)), env_ids, greedy=True)
    specs = [gea.envs.spec(env_id) for env_id in env_ids]
    with torch.no_grad():
        images = torch.from_numpy(np.concatenate([prompt.images for prompt in out.prompts]))
        tokens = policy.prompts.batch(out.prompts, policy.device)
        embeds = policy._embed_prompts(tokens, policy.backbone.image_features(images).flatten(0, 1))
        end = policy.prompts.pad_id
        rules = [policy.codec.allowed_next_fn(spec) for spec in specs]
        generated = policy.backbone.model.generate(
            inputs_embeds=embeds,
            attention_mask=tokens.attention_mask,
            logits_processor=[ConstraintLogitsProcessor(policy.masks, env_ids, rules, end)],
            max_new_tokens=policy.codec.max_tokens(specs),
            do_sample=False,
            eos_token_id=end,
            pad_token_id=end,
        )
    for row, ids in enumerate(out.token_ids):
        assert generated[row, : len(ids)].tolist() == ids


def test_save_and_load_never_unpickle_and_act_identically(
    policy: GEAPolicy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_ids = ENV_IDS
    policy.value_head.popart.update(torch.tensor([5.0, 7.0]), torch.tensor([0, 1]))
    policy.save_pretrained(tmp_path / "policy")
    files = {path.suffix for path in (tmp_path / "policy").rglob("*") if path.is_file()}
    assert files <= {".json", ".safetensors", ".jinja", ".txt"}, files

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a checkpoint load tried to unpickle")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    loaded = GEAPolicy.from_pretrained(tmp_path / "policy").eval()
    by_path = GEAPolicy.build(PolicyConfig(model=str(tmp_path / "policy" / "model")), env_ids).eval()
    outputs = []
    for candidate in (policy, loaded, by_path):
        candidate.reset(None)
        for step in range(2):
            out = candidate.act(_observations(step, len(env_ids)), env_ids, greedy=True)
        outputs.append(out)
    for out in outputs[1:]:
        assert out.token_ids == outputs[0].token_ids
        for left, right in zip(out.actions, outputs[0].actions, strict=True):
            np.testing.assert_array_equal(left, right)
        torch.testing.assert_close(out.log_prob, outputs[0].log_prob)
    torch.testing.assert_close(outputs[1].value, outputs[0].value)
    assert loaded.tasks == policy.tasks
