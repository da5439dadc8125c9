"""Scoring given outputs: the log-probability a model (or an ensemble) gives each token of a reference target,
teacher-forced."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..data.batching import collate, sort_for_inference
from ..data.vocab import PAD
from .stepper import model_input


@torch.inference_mode()
def token_log_probs(model: torch.nn.Module, src: Tensor, src_lengths: Tensor, tgt_in: Tensor,
                    tgt_out: Tensor) -> Tensor:
    """(B, T) log p(gold token | source, gold prefix) of each target step, 0 at padding."""
    logp = model(src, src_lengths, tgt_in).scores.float().log_softmax(-1)
    return logp.gather(2, tgt_out.unsqueeze(-1)).squeeze(-1).masked_fill(tgt_out == PAD, 0.0)


def score_pairs(model: torch.nn.Module, source_side: Any, target_side: Any, pairs: Sequence[tuple[Any, Any]],
                batch_size: int) -> list[list[float]]:
    """Per encoded (source, target) pair, the log-probability of each target token and of the closing </s>."""
    weights = next(model.parameters())
    was_training = model.training
    model.eval()
    results: list[list[float]] = [[] for _ in pairs]
    try:
        for idx in sort_for_inference([len(s) for s, _ in pairs], batch_size):
            batch = collate([pairs[i] for i in idx], source_side, target_side, idx)
            logp = token_log_probs(model, model_input(batch.src, weights), batch.src_lengths.to(weights.device),
                                   batch.tgt_in.to(weights.device), batch.tgt_out.to(weights.device))
            for row, i in enumerate(idx):
                results[i] = logp[row, : int(batch.tgt_lengths[row])].tolist()
    finally:
        model.train(was_training)
    return results
