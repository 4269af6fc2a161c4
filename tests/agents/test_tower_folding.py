"""EfficientNet-Lite0 without autograd runs each convolution with its batch norm folded in: same features."""

import pytest
import torch

from gea.agents.vision.efficientnet_lite import EfficientNetLite0


@pytest.fixture(scope="module")
def net() -> EfficientNetLite0:
    torch.manual_seed(0)
    net = EfficientNetLite0(feature_stride=16).eval()
    for module in net.modules():  # batch norms that do something: random statistics and affine maps
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return net


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_folded_features_match_the_batch_norms(net: EfficientNetLite0, mode: str) -> None:
    pixels = torch.randn(3, 3, 64, 64)
    with torch.enable_grad():
        reference = net.features(pixels)
    with torch.no_grad() if mode == "no_grad" else torch.inference_mode():
        folded = net.features(pixels)
    torch.testing.assert_close(folded, reference.detach(), rtol=1e-4, atol=1e-4)
    with torch.no_grad():  # weights folded under inference mode also serve outside it
        torch.testing.assert_close(net.features(pixels), folded, rtol=0, atol=0)


def test_folding_follows_weight_changes(net: EfficientNetLite0) -> None:
    pixels = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        before = net.features(pixels)
        net.stem.bn.running_var.mul_(4.0)  # in place, as an optimizer step or load_state_dict would
        after = net.features(pixels)
    reference = net.features(pixels).detach()
    net.stem.bn.running_var.div_(4.0)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, reference, rtol=1e-4, atol=1e-4)


def test_training_batch_norms_are_not_folded() -> None:
    net = EfficientNetLite0(feature_stride=8).train()  # a bare net in training mode normalizes with batch statistics
    pixels = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        features = net.features(pixels)
    assert net.stem._folded is None and features.shape == (4, 40, 4, 4)
