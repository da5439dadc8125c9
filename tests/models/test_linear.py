"""oneDNN linear: F.linear's values and gradients, and F.linear itself wherever the kernel does not apply."""

import contextlib

import pytest
import torch
import torch.nn.functional as F

from seq2seq.models import linear as linear_module
from seq2seq.models.linear import Linear, linear

needs_kernel = pytest.mark.skipif(linear_module._OP is None, reason="this torch build has no oneDNN linear kernel")


@pytest.fixture(autouse=True)
def every_size_takes_the_kernel(monkeypatch):
    """These tests use small layers: let them through the kernel as large ones go."""
    monkeypatch.setattr(linear_module, "SMALL", 0)


@needs_kernel
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 7), (3, 4, 7), (2, 3, 4, 7)])
def test_values_and_gradients_equal_f_linear(shape, bias):
    torch.manual_seed(0)
    x = torch.randn(*shape, requires_grad=True)
    w = torch.randn(11, 7, requires_grad=True)
    b = torch.randn(11, requires_grad=True) if bias else None
    g = torch.randn(*shape[:-1], 11)
    ours = linear(x, w, b)
    ours.backward(g)
    mine = [x.grad.clone(), w.grad.clone()] + ([b.grad.clone()] if bias else [])
    for t in (x, w) + ((b,) if bias else ()):
        t.grad = None
    ref = F.linear(x, w, b)
    ref.backward(g)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    for got, want in zip(mine, [x.grad, w.grad] + ([b.grad] if bias else []), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@needs_kernel
def test_non_contiguous_input_and_frozen_weight():
    torch.manual_seed(1)
    x = torch.randn(7, 6).t().requires_grad_()  # (6, 7), not contiguous
    w = torch.randn(3, 7)
    out = linear(x, w)
    out.sum().backward()
    torch.testing.assert_close(out, F.linear(x, w), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x.grad, w.sum(0).expand(6, 7), rtol=1e-5, atol=1e-5)


@needs_kernel
def test_takes_the_kernel_only_where_it_applies():
    x, w = torch.randn(2, 3), torch.randn(4, 3)
    assert linear_module.takes_onednn(x, w)
    assert not linear_module.takes_onednn(x.double(), w.double())
    assert not linear_module.takes_onednn(torch.randn(0, 3), w)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not linear_module.takes_onednn(x, w)


@needs_kernel
def test_small_products_take_f_linear(monkeypatch):
    monkeypatch.setattr(linear_module, "SMALL", 1 << 20)
    assert not linear_module.takes_onednn(torch.randn(1, 256), torch.randn(1024, 256))
    assert linear_module.takes_onednn(torch.randn(8, 256), torch.randn(1024, 256))


@needs_kernel
def test_packed_weights_are_made_once_per_block_and_dropped_after_it():
    torch.manual_seed(3)
    layer = Linear(7, 5)
    x = torch.randn(4, 7)
    with torch.inference_mode(), linear_module.packed_weights():
        torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias), rtol=1e-5, atol=1e-5)
        packed = linear_module._packs.table[id(layer.weight)]
        layer(x)
        assert linear_module._packs.table[id(layer.weight)] is packed  # made once
    assert linear_module._packs.table is None
    # a fused optimiser changes the weight without bumping its version: the next block packs it again
    layer.weight.grad = torch.ones_like(layer.weight)
    torch.optim.Adam(layer.parameters(), lr=0.5, fused=True).step()
    with torch.no_grad(), linear_module.packed_weights():
        torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias), rtol=1e-5, atol=1e-5)


@needs_kernel
def test_shared_transposes_give_the_same_gradients_with_one_copy_per_weight(monkeypatch):
    torch.manual_seed(4)
    w = torch.randn(5, 7, requires_grad=True)
    xs = [torch.randn(3, 7, requires_grad=True) for _ in range(4)]
    copies = []
    real_of = linear_module._Transpose.of

    def counting(self, weight):
        copies.append(self.value is None)
        return real_of(self, weight)

    monkeypatch.setattr(linear_module._Transpose, "of", counting)
    grads = {}
    for shared in (False, True):
        for t in [w, *xs]:
            t.grad = None
        copies.clear()
        h = torch.zeros(3, 5)
        with linear_module.shared_transposes() if shared else contextlib.nullcontext():
            for x in xs:  # a recurrence: each step's input depends on the last step's output
                h = torch.tanh(linear(x, w) + h)
        assert linear_module._shared.table is None
        h.sum().backward()
        grads[shared] = [w.grad.clone()] + [x.grad.clone() for x in xs]
        assert sum(copies) == (1 if shared else len(xs))
    for got, want in zip(grads[True], grads[False], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_double_empty_and_disabled_give_f_linear(monkeypatch):
    x, w, b = (torch.randn(*shape, dtype=torch.float64) for shape in ((4, 3), (2, 3), (2,)))
    assert torch.equal(linear(x, w, b), F.linear(x, w, b))
    assert linear(torch.randn(0, 3), torch.randn(2, 3)).shape == (0, 2)
    monkeypatch.setattr(linear_module, "ENABLED", False)
    x32, w32 = x.float(), w.float()
    assert torch.equal(linear(x32, w32), F.linear(x32, w32))


def test_module_is_an_nn_linear_with_the_same_state():
    torch.manual_seed(2)
    ours = Linear(5, 3)
    torch.manual_seed(2)
    theirs = torch.nn.Linear(5, 3)
    assert isinstance(ours, torch.nn.Linear)
    assert list(ours.state_dict()) == ["weight", "bias"]
    assert torch.equal(ours.weight, theirs.weight) and torch.equal(ours.bias, theirs.bias)
    x = torch.randn(2, 5)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.trace: what the ONNX exporter traces with
def test_traced_graphs_use_f_linear():
    layer = Linear(3, 2)
    traced = torch.jit.trace(layer, torch.randn(1, 3))
    assert "mkldnn" not in str(traced.graph)
    assert "linear" in str(traced.graph)
