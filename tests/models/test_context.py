"""Context feeding: where the encoder's fixed context vector joins the decoder (init, input, peeky)."""

import pytest
import torch

from seq2seq.models.context import ContextFeeding


@pytest.mark.parametrize("mode, into_input, into_output", [("init", 0, 0), ("input", 5, 0), ("peeky", 5, 5)])
def test_sizes(mode, into_input, into_output):
    feeding = ContextFeeding(mode, 5)
    assert (feeding.input_size, feeding.output_size) == (into_input, into_output)


def test_init_passes_through():
    feeding = ContextFeeding("init", 5)
    x, fixed = torch.randn(2, 3), torch.randn(2, 5)
    assert feeding.join_input(x, fixed) is x and feeding.join_output(x, fixed) is x


def test_peeky_joins_a_step_and_a_sequence():
    feeding = ContextFeeding("peeky", 2)
    fixed = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    step = feeding.join_input(torch.zeros(2, 3), fixed)
    assert step.shape == (2, 5) and step[:, 3:].tolist() == fixed.tolist()
    seq = feeding.join_output(torch.zeros(2, 4, 3), fixed)
    assert seq.shape == (2, 4, 5)
    assert all(seq[:, t, 3:].tolist() == fixed.tolist() for t in range(4))  # the same context at every step


def test_input_mode_leaves_the_output_alone():
    feeding = ContextFeeding("input", 2)
    pre, fixed = torch.randn(2, 4, 3), torch.randn(2, 2)
    assert feeding.join_output(pre, fixed) is pre
    assert feeding.join_input(pre, fixed).shape == (2, 4, 5)
