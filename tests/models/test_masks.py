"""The length mask: True exactly at each row's real steps."""

import torch

from seq2seq.models.masks import length_mask


def test_true_before_each_length_only():
    mask = length_mask(torch.tensor([3, 0, 1]), 4)
    assert mask.dtype == torch.bool
    assert mask.tolist() == [[True, True, True, False], [False] * 4, [True, False, False, False]]
