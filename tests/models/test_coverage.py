"""The coverage loss (See et al. 2017) and the GNMT coverage penalty (Wu et al. 2016)."""

import math

import torch

from seq2seq.models.coverage import average_heads, coverage_loss
from seq2seq.search.coverage import coverage_penalty as penalty_of
from seq2seq.search.torch_ops import TorchOps


def coverage_penalty(coverage, mask, beta):
    return penalty_of(coverage, mask, beta, TorchOps(coverage.device))


def test_coverage_loss_counts_attention_given_again():
    # step 0 reads position 0; step 1 reads it again (0.5) and position 1; step 2 is padding
    attention = torch.tensor([[[1.0, 0.0], [0.5, 0.5], [1.0, 0.0]]])
    assert float(coverage_loss(attention, torch.tensor([2]))) == 0.5  # min(0.5, 1) + min(0.5, 0)
    assert float(coverage_loss(attention, torch.tensor([3]))) == 1.5  # + min(1, 1.5) + min(0, 0.5)
    moving = torch.eye(3).unsqueeze(0)
    assert float(coverage_loss(moving, torch.tensor([3]))) == 0.0


def test_coverage_loss_averages_heads_first():
    per_head = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]]])  # (1, 2 steps, 2 heads, 2)
    # averaged: both steps read each position half, so step 1 gives min(0.5, 0.5) twice
    assert float(coverage_loss(per_head, torch.tensor([2]))) == 1.0
    assert torch.equal(average_heads(per_head, True), torch.full((1, 2, 2), 0.5))


def test_coverage_penalty_is_zero_when_all_is_read_and_skips_padding():
    mask = torch.tensor([[True, True, False], [True, True, True]])
    coverage = torch.tensor([[1.5, 1.0, 0.0], [0.5, 0.25, 1.0]])
    penalty = coverage_penalty(coverage, mask, 0.4)
    assert float(penalty[0]) == 0.0
    assert math.isclose(float(penalty[1]), 0.4 * (math.log(0.5) + math.log(0.25)), rel_tol=1e-6)
    assert torch.isfinite(coverage_penalty(torch.zeros(1, 3), torch.ones(1, 3, dtype=torch.bool), 1.0)).all()
