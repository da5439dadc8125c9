"""The toolkit's dropout: torch's distribution and scaling, identity outside training, the residual sum fused."""

import pytest
import torch

from seq2seq.models.dropout import Dropout, add_dropped, dropout


def test_identity_when_not_training_or_p_zero():
    x = torch.randn(4, 5)
    assert dropout(x, 0.3, False) is x
    assert dropout(x, 0.0, True) is x
    module = Dropout(0.3).eval()
    assert module(x) is x


def test_keeps_one_minus_p_and_scales_the_rest():
    torch.manual_seed(0)
    x = torch.ones(200_000)
    y = dropout(x, 0.25, True)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.75) < 0.005
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.75))
    assert abs(y.mean().item() - 1.0) < 0.01  # inverted dropout keeps the expectation


def test_p_one_drops_everything():
    assert torch.equal(dropout(torch.randn(3, 4), 1.0, True), torch.zeros(3, 4))


def test_gradient_is_the_mask():
    torch.manual_seed(1)
    x = torch.randn(50, 40, requires_grad=True)
    y = dropout(x, 0.5, True)
    y.sum().backward()
    assert torch.equal(x.grad, torch.where(y != 0, 2.0, 0.0))


def test_same_seed_same_mask_and_fused_residual_equals_the_sum():
    x, branch = torch.randn(6, 7, 8), torch.randn(6, 7, 8)
    torch.manual_seed(3)
    expected = x + dropout(branch, 0.1, True)
    torch.manual_seed(3)
    assert torch.allclose(add_dropped(x, branch, 0.1, True), expected, atol=1e-6)
    assert torch.equal(add_dropped(x, branch, 0.1, False), x + branch)


def test_keeps_the_dtype():
    x = torch.randn(10, 10, dtype=torch.float64)
    assert dropout(x, 0.2, True).dtype == torch.float64


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_module_refuses_a_probability_outside_0_1(p):
    with pytest.raises(ValueError, match="dropout probability must be in"):
        Dropout(p)
