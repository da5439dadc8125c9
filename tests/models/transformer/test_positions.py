"""Positions: the sinusoidal table of Vaswani et al., offsets, and learned positions with their limit."""

import math

import pytest
import torch

from seq2seq.models.transformer.positions import LearnedPositions, SinusoidalPositions, make_positions


def test_sinusoidal_values_follow_the_formula():
    pe = SinusoidalPositions(6)(5)
    assert pe.shape == (5, 6)
    for p in range(5):
        for i in range(3):
            angle = p / 10000 ** (2 * i / 6)
            assert pe[p, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[p, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert SinusoidalPositions(5)(3).shape == (3, 5)  # odd widths drop the last cosine


@pytest.mark.parametrize("positions", [SinusoidalPositions(8), LearnedPositions(8, 20)])
def test_an_offset_continues_the_table(positions):
    torch.testing.assert_close(positions(4, 3), positions(7)[3:])
    assert positions(1, 6).shape == (1, 8)


def test_learned_positions_refuse_beyond_max_positions():
    positions = LearnedPositions(4, 10)
    assert positions(10).shape == (10, 4)
    with pytest.raises(ValueError, match=r"11 steps is longer than model.max_positions=10"):
        positions(2, 9)


def test_sinusoidal_positions_have_no_weights():
    assert list(make_positions("sinusoidal", 8, 16).state_dict()) == []
    assert list(make_positions("learned", 8, 16).state_dict()) == ["table.weight"]
