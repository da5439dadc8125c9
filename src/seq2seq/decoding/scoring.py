"""Scoring given outputs: the log-probability a model gives each token of a reference target, through the
step interface of generation (so an ensemble scores like one model)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from seq2seq.data.batching import collate, sort_for_inference
from seq2seq.data.vocab import PAD

from .generate import like_weights


@torch.inference_mode()
def token_log_probs(model: torch.nn.Module, src: Tensor, src_lengths: Tensor, tgt_in: Tensor,
                    tgt_out: Tensor) -> Tensor:
    """(B, T) log p(gold token | source, gold prefix) of each target step, 0 at padding."""
    state, memory = model.init_state(model.encode(src, src_lengths))
    steps = []
    for t in range(tgt_in.size(1)):
        out = model.step(tgt_in[:, t], state, memory)
        state = out.state
        steps.append(out.scores.float().log_softmax(-1).gather(1, tgt_out[:, t:t + 1]).squeeze(1))
    return torch.stack(steps, 1).masked_fill(tgt_out == PAD, 0.0)


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
            logp = token_log_probs(model, like_weights(batch.src, weights), batch.src_lengths.to(weights.device),
                                   batch.tgt_in.to(weights.device), batch.tgt_out.to(weights.device))
            for row, i in enumerate(idx):
                results[i] = logp[row, : int(batch.tgt_lengths[row])].tolist()
    finally:
        model.train(was_training)
    return results
