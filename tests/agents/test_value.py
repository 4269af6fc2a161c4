"""PopArt keeps unnormalized outputs unchanged while its statistics move; the value head's shapes."""

import torch

from gea.agents.value import PopArt, ValueHead


def test_popart_update_preserves_outputs() -> None:
    torch.manual_seed(0)
    popart = PopArt(8, tasks=3, beta=0.5)
    features = torch.randn(32, 8)
    tasks = torch.randint(0, 3, (32,))
    before = popart.denormalize(popart(features, tasks), tasks)
    for scale in (10.0, 100.0, -50.0):
        popart.update(torch.randn(64) * scale + scale, torch.randint(0, 2, (64,)))
        after = popart.denormalize(popart(features, tasks), tasks)
        torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-3)
    assert popart.std[0] > 1.0 and popart.mean[2] == 0.0  # task 2 never updated


def test_popart_normalize_inverts_denormalize() -> None:
    popart = PopArt(4, tasks=2, beta=1.0)
    popart.update(torch.tensor([3.0, 5.0, -1.0]), torch.tensor([0, 0, 1]))
    returns, tasks = torch.tensor([2.0, 7.0]), torch.tensor([0, 1])
    torch.testing.assert_close(popart.denormalize(popart.normalize(returns, tasks), tasks), returns)
    assert torch.allclose(popart.mean, torch.tensor([4.0, -1.0]))


def test_value_head_layers_and_output() -> None:
    head = ValueHead(hidden_size=16, width=32, layers=4, tasks=2)
    linear_layers = [module for module in head.modules() if isinstance(module, torch.nn.Linear)]
    assert len(linear_layers) == 4
    values = head(torch.randn(5, 16), torch.randn(5, 16), torch.tensor([0, 1, 0, 1, 1]))
    assert values.shape == (5,)
    values.sum().backward()
    assert head.mlp[0].weight.grad is not None
