"""The attentional output (concat or Luong's tanh) and input feeding."""

import torch

from seq2seq.models.attentional import AttentionalOutput, InputFeeding


def test_concat_reads_context_and_state_and_feeds_the_context():
    out = AttentionalOutput("concat", 3, 4)
    assert (out.size, out.feed_size) == (7, 3) and not hasattr(out, "combine")
    c, h = torch.randn(2, 3), torch.randn(2, 4)
    pre, feed = out(c, h)
    torch.testing.assert_close(pre, torch.cat([c, h], -1))
    assert feed is c


def test_tanh_is_luongs_attentional_state():
    torch.manual_seed(0)
    out = AttentionalOutput("tanh", 3, 4)
    assert (out.size, out.feed_size) == (4, 4) and out.combine.bias is None
    c, h = torch.randn(2, 5, 3), torch.randn(2, 5, 4)
    pre, feed = out(c, h)
    torch.testing.assert_close(pre, torch.tanh(torch.cat([c, h], -1) @ out.combine.weight.T))
    assert feed is pre and pre.shape == (2, 5, 4)


def test_input_feeding():
    feeding = InputFeeding(3)
    like = torch.zeros(1, dtype=torch.float64)
    first = feeding.initial(2, like)
    assert first.shape == (2, 3) and first.dtype == torch.float64 and torch.all(first == 0)
    x, feed = torch.randn(2, 4), torch.randn(2, 3)
    torch.testing.assert_close(feeding.join(x, feed), torch.cat([x, feed], -1))
