"""Metrics: loss, perplexity, token accuracy (teacher-forced), exact match (greedy), BLEU and chrF."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from .data.batching import collate, make_batches
from .data.vocab import PAD
from .decoding import decode_ids

IdPairs = list[tuple[list[int], list[int]]]


@torch.inference_mode()
def teacher_forced(model: torch.nn.Module, pairs: list[tuple[Any, Any]], batch_size: int, device: torch.device,
                   collate_fn: Callable[..., Any] = collate, token_accuracy: bool = True) -> dict[str, float]:
    """Per-step loss with gold previous outputs; with token_accuracy (token targets) also perplexity and
    token accuracy. collate_fn(items, indices) makes the batches (`collate_mixed` for feature sides)."""
    was_training = model.training
    model.eval()
    loss_sum, n_tok, n_right = 0.0, 0, 0
    batches = make_batches([len(s) for s, _ in pairs], [len(t) for _, t in pairs], batch_size,
                           bucket=True, shuffle=False)
    for idx in batches:
        batch = collate_fn([pairs[i] for i in idx], idx).to(device)
        out = model(batch.src, batch.src_lengths, batch.tgt_in)
        loss, n = model.loss(out.logits, batch.tgt_out)
        loss_sum += float(loss)
        n_tok += int(n)
        if token_accuracy:
            mask = batch.tgt_out != PAD
            n_right += int(((out.logits.argmax(-1) == batch.tgt_out) & mask).sum())
    model.train(was_training)
    loss = loss_sum / max(n_tok, 1)
    if not token_accuracy:
        return {"loss": loss}
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "token_accuracy": n_right / max(n_tok, 1)}


def text_scores(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """Corpus BLEU and chrF (0-100) with sacrebleu."""
    import sacrebleu

    return {"bleu": sacrebleu.corpus_bleu(hypotheses, [references]).score,
            "chrf": sacrebleu.corpus_chrf(hypotheses, [references]).score}


def evaluate(model: torch.nn.Module, pairs: IdPairs, tgt_side: Any, *, batch_size: int, device: torch.device,
             text_metrics: bool, max_sentences: int = 0, decode: dict[str, Any] | None = None,
             prefix: str = "valid_") -> tuple[dict[str, float], list[str]]:
    """All metrics of one split, with the given prefix, and the hypotheses' texts (decoded subset).

    A model with a feature side is scored by `feature_eval.evaluate_features` (MAE/RMSE, or CER).
    """
    if getattr(tgt_side, "kind", "tokens") == "features" or getattr(model.encoder, "source_features", False):
        from .feature_eval import evaluate_features

        return evaluate_features(model, pairs, tgt_side, batch_size=batch_size, device=device,
                                 text_metrics=text_metrics, max_sentences=max_sentences, decode=decode, prefix=prefix)
    metrics = teacher_forced(model, pairs, batch_size, device)
    subset = pairs[:max_sentences] if max_sentences > 0 else pairs
    hyps = decode_ids(model, [s for s, _ in subset], batch_size=batch_size, **(decode or {}))
    best = [h[0] for h in hyps]
    metrics["exact_match"] = sum(h.ids == t for h, (_, t) in zip(best, subset)) / max(len(subset), 1)
    texts = [tgt_side.decode(h.ids) for h in best]
    if text_metrics:
        metrics.update(text_scores(texts, [tgt_side.decode(t) for _, t in subset]))
    return {prefix + k: v for k, v in metrics.items()}, texts
