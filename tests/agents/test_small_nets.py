"""The small actor-critic's compute precision: a bf16 encoder keeps float32 heads close to the float32 net."""

import pytest
import torch

from gea.agents.small_nets import SmallActorCriticNet, SmallNetConfig


@pytest.mark.parametrize("encoder", ["cnn", "impala"])
def test_bf16_torso_keeps_float32_heads_close_to_float32(encoder: str) -> None:
    torch.manual_seed(0)
    net = SmallActorCriticNet(SmallNetConfig(encoder, (64, 64, 3), 15, True, cnn_features=32))  # type: ignore[arg-type]
    images = torch.randint(0, 256, (8, 64, 64, 3), dtype=torch.uint8)
    with torch.no_grad():
        logits, values = net(images)
    net.set_torso_dtype(torch.bfloat16)
    fast_logits, fast_values = net(images)
    assert fast_logits.dtype == fast_values.dtype == torch.float32
    torch.testing.assert_close(fast_logits, logits, rtol=0.05, atol=2e-3)
    torch.testing.assert_close(fast_values, values, rtol=0.05, atol=0.05)
    (fast_logits.logsumexp(-1).mean() + fast_values.square().mean()).backward()
    assert all(parameter.grad is not None and parameter.grad.dtype == torch.float32 for parameter in net.parameters())
    net.set_torso_dtype(torch.float32)
    with torch.no_grad():
        torch.testing.assert_close(net(images)[0], logits)
