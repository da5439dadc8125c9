"""The convolutional front end: time steps halved per layer, lengths ceil-halved, padding changes nothing."""

import pytest
import torch

from seq2seq.models.transformer.subsampling import ConvSubsampling


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_each_layer_halves_the_steps_and_a_row_alone_equals_the_row_in_a_batch(layers):
    torch.manual_seed(0)
    sub = ConvSubsampling(4, layers)
    lengths = torch.tensor([13, 5, 8])
    x = torch.randn(3, 13, 4)
    x[torch.arange(13)[None] >= lengths[:, None]] = 7.0  # padding holds garbage: it must not leak
    out, new = sub(x, lengths)
    expected = [-(-n // 2 ** layers) for n in lengths.tolist()]
    assert new.tolist() == expected and out.shape == (3, expected[0], 4)
    for i, n in enumerate(lengths.tolist()):
        alone, _ = sub(x[i:i + 1, :n], lengths[i:i + 1])
        torch.testing.assert_close(alone[0], out[i, : expected[i]], atol=1e-6, rtol=1e-5)
