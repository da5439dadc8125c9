"""One split's metrics: teacher-forced loss (with perplexity and token accuracy for tokens), then generation
scored against the references."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch

from ..config import DecodeConfig
from ..data.batching import collate, make_batches
from ..data.copying import resolve
from ..decoding import generate, one_best
from .metrics import SCORERS

Pairs = list[tuple[Any, Any]]


@torch.inference_mode()
def teacher_forced(model: torch.nn.Module, pairs: Pairs, source: Any, target: Any, batch_size: int,
                   device: torch.device) -> dict[str, float]:
    """Loss per target step with the gold previous outputs, plus what the head derives from it."""
    was_training = model.training
    model.eval()
    loss_sum, n_steps, n_right = 0.0, 0, 0
    batches = make_batches([len(s) for s, _ in pairs], [len(t) for _, t in pairs], batch_size,
                           bucket=True, shuffle=False)
    for idx in batches:
        batch = collate([pairs[i] for i in idx], source, target, idx).to(device)
        out = model(batch.src, batch.src_lengths, batch.tgt_in)
        loss, n = model.loss(out.scores, batch.tgt_out)
        loss_sum += float(loss)
        n_steps += n
        n_right += model.head.correct(out.scores, batch.tgt_out)
    model.train(was_training)
    return model.head.summary(loss_sum / max(n_steps, 1), n_right / max(n_steps, 1))


def evaluate(model: torch.nn.Module, pairs: Pairs, source: Any, target: Any, options: DecodeConfig, *,
             references: Sequence[Any], names: frozenset[str], batch_size: int, device: torch.device,
             max_sentences: int = 0, prefix: str = "valid_") -> tuple[dict[str, float], list[str]]:
    """Every metric of one split of encoded pairs, keys prefixed, and the best hypothesis of each scored
    pair as an output line (as `translate` prints it). `references` are the raw targets of the pairs (the
    texts as the data file holds them), which generated texts are scored against; `names` (see
    `metric_names`) picks the scores; `max_sentences` > 0 scores generation on the first pairs only."""
    if len(references) != len(pairs):
        raise ValueError(f"{len(pairs)} pairs but {len(references)} references")
    metrics = teacher_forced(model, pairs, source, target, batch_size, device)
    subset = pairs[:max_sentences] if max_sentences > 0 else pairs
    opts = dataclasses.replace(one_best(options), batch_size=batch_size)
    hyps = generate(model, source, [s for s, _ in subset], opts)
    outputs = [h[0].output for h in hyps]
    encoded = [resolve(source, t, s) for s, t in subset]
    metrics.update(SCORERS[target.kind](outputs, encoded, references[:len(subset)], target, names))
    texts = [target.format(target.decode(o)) for o in outputs]
    return {prefix + k: v for k, v in metrics.items()}, texts
