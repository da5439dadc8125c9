"""The LAS listener: halving pairs of steps regardless of padding, and the pyramid of bi-RNNs."""

import pytest
import torch

from seq2seq.models.listener import PyramidalListener, halve


def test_halve_pairs_steps_and_ignores_padding():
    x = torch.arange(1.0, 6.0).view(1, 5, 1)
    y, n = halve(x, torch.tensor([5]))
    assert n.tolist() == [3] and y[0].tolist() == [[1, 2], [3, 4], [5, 0]]
    y, n = halve(x, torch.tensor([3]))
    assert n.tolist() == [2] and y[0, 1].tolist() == [3, 0]


def test_halve_even_lengths_and_batches():
    x = torch.arange(1.0, 9.0).view(2, 2, 2)
    y, n = halve(x, torch.tensor([2, 1]))
    assert y.shape == (2, 1, 4) and n.tolist() == [1, 1]
    assert y[0, 0].tolist() == [1, 2, 3, 4] and y[1, 0].tolist() == [5, 6, 0, 0]


@pytest.mark.parametrize("layers", [1, 3])
def test_pyramid_reduces_steps_and_is_padding_invariant(layers):
    torch.manual_seed(0)
    listener = PyramidalListener("lstm", 3, 4, layers).eval()
    assert listener.output_size == 8
    lengths = torch.tensor([9, 4])
    x = torch.randn(2, 9, 3) * (torch.arange(9)[None] < lengths[:, None]).unsqueeze(-1)
    x[1, 4:] = 7.0  # whatever lies in the padding
    out, n = listener(x, lengths)
    expected = lengths
    for _ in range(layers):
        expected = (expected + 1) // 2
    assert n.tolist() == expected.tolist() and out.shape[:2] == (2, int(expected.max())) and out.size(2) == 8
    assert torch.all(out[1, int(n[1]):] == 0)
    alone, _ = listener(x[1:, :4], lengths[1:])
    torch.testing.assert_close(alone[0], out[1, : int(n[1])], atol=1e-6, rtol=1e-5)


def test_layer_input_sizes():
    listener = PyramidalListener("gru", 3, 4, 2)
    assert [layer.layers[0].input_size for layer in listener.layers] == [6, 16]
