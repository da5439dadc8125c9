"""Generation and metrics for models with a feature side.

Continuous targets: teacher-forced loss, then auto-regressive generation scored by MAE and RMSE in the
data's original units. Feature sources with text targets (speech): loss, perplexity, token accuracy,
exact match and character error rate (Levenshtein distance over reference characters).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import torch

from .data.batching import sort_for_inference
from .data.features import FeatureSide, collate_mixed
from .decoding import decode_ids, max_lengths, pad_sources
from .evaluation import teacher_forced, text_scores
from .models.continuous import ContinuousSeq2Seq

Pairs = list[tuple[Any, Any]]
# Text from feature sources: the relative output-length cap reads the source in frames, so its
# default slope is 0.5 rather than the 2 of text sources.
FRAMES_SLOPE = 0.5


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions) between two strings."""
    if len(a) < len(b):
        a, b = b, a
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def char_error_rate(hypotheses: list[str], references: list[str]) -> float:
    """Character edits needed to turn the hypotheses into the references, per reference character."""
    edits = sum(levenshtein(h, r) for h, r in zip(hypotheses, references, strict=True))
    return edits / max(sum(len(r) for r in references), 1)


def output_steps(model: ContinuousSeq2Seq, src_lengths: torch.Tensor,
                 decode: dict[str, Any]) -> tuple[torch.Tensor, bool]:
    """How many vectors to generate per row and whether the stop flag may end a row earlier.

    decode: feature_length (auto/source/stop/fixed), target_length, max_length, max_length_a/b; the first
    two default to the model's (decode.feature_length and data.target_length of its config).
    """
    mode = decode.get("feature_length", model.feature_length)
    fixed = decode.get("target_length", model.target_length)
    if mode == "auto":
        mode = "fixed" if fixed else "stop" if model.stop_flag else "source"
    if mode == "fixed":
        return torch.full_like(src_lengths, int(fixed)), False
    if mode == "source":
        return src_lengths.clone(), False
    return max_lengths(src_lengths, decode.get("max_length", 0), decode.get("max_length_a", 2.0),
                       decode.get("max_length_b", 10)), True


@torch.inference_mode()
def generate_features(model: ContinuousSeq2Seq, sources: list[np.ndarray], *, batch_size: int = 64,
                      decode: dict[str, Any] | None = None) -> list[np.ndarray]:
    """Generated (L, D) sequences (normalised units, as the model sees them), in input order."""
    device = next(model.parameters()).device
    out: list[np.ndarray] = [np.zeros((0, model.target_dim), np.float32)] * len(sources)
    was_training = model.training
    model.eval()
    try:
        for idx in sort_for_inference([len(s) for s in sources], batch_size):
            src, lengths = pad_sources([sources[i] for i in idx], device)
            steps, use_stop = output_steps(model, lengths, decode or {})
            gen = model.generate(src, lengths, steps, use_stop=use_stop)
            values = gen.values.float().cpu().numpy()
            for row, i in enumerate(idx):
                out[i] = values[row, : int(gen.lengths[row])]
    finally:
        model.train(was_training)
    return out


def evaluate_features(model: torch.nn.Module, pairs: Pairs, tgt_side: Any, *, batch_size: int, device: torch.device,
                      text_metrics: bool, max_sentences: int = 0, decode: dict[str, Any] | None = None,
                      prefix: str = "valid_") -> tuple[dict[str, float], list[str]]:
    """`evaluation.evaluate` for models with a feature side: metrics with the prefix, and hypotheses as text.

    Feature targets: loss (teacher-forced, normalised units), mae and rmse of generated sequences in the
    original units, over each reference's steps (see `_aligned_error`). Text targets: loss, perplexity,
    token_accuracy, exact_match, cer (and bleu/chrf with text_metrics).
    """
    target_features = isinstance(tgt_side, FeatureSide)
    mixed = partial(collate_mixed, source_features=isinstance(pairs[0][0], np.ndarray),
                    target_features=target_features)
    metrics = teacher_forced(model, pairs, batch_size, device, collate_fn=mixed, token_accuracy=not target_features)
    subset = pairs[:max_sentences] if max_sentences > 0 else pairs
    sources = [s for s, _ in subset]
    if target_features:
        generated = generate_features(model, sources, batch_size=batch_size, decode=decode)
        errors = []
        for gen, (_, ref) in zip(generated, subset):
            hyp, gold = tgt_side.decode(gen), tgt_side.decode(ref)
            errors.append(_aligned_error(hyp, gold))
        flat = np.concatenate(errors) if errors else np.zeros(1)
        metrics["mae"] = float(np.abs(flat).mean())
        metrics["rmse"] = float(np.sqrt((flat ** 2).mean()))
        from .data.features import format_sequence

        texts = [format_sequence(tgt_side.decode(g)) for g in generated]
        return {prefix + k: v for k, v in metrics.items()}, texts
    opts = {k: v for k, v in (decode or {}).items() if k not in ("feature_length", "target_length")}
    hyps = decode_ids(model, sources, batch_size=batch_size, **{"max_length_a": FRAMES_SLOPE, **opts})
    best = [h[0] for h in hyps]
    metrics["exact_match"] = sum(h.ids == t for h, (_, t) in zip(best, subset)) / max(len(subset), 1)
    texts = [tgt_side.decode(h.ids) for h in best]
    refs = [tgt_side.decode(t) for _, t in subset]
    metrics["cer"] = char_error_rate(texts, refs)
    if text_metrics:
        metrics.update(text_scores(texts, refs))
    return {prefix + k: v for k, v in metrics.items()}, texts


def _aligned_error(hyp: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Per-value errors of a generated sequence against its reference over the reference's steps; steps
    the generation did not reach are compared with its last vector (zeros if it generated nothing)."""
    if len(hyp) < len(gold):
        fill = hyp[-1:] if len(hyp) else np.zeros((1, gold.shape[1]), gold.dtype)
        hyp = np.concatenate([hyp, np.repeat(fill, len(gold) - len(hyp), 0)], 0)
    return (hyp[: len(gold)] - gold).ravel()


def predict(model: Any, inputs: list[Any], *, beam: int = 1, batch_size: int = 64) -> list[Any]:
    """What `seq2seq.Model.predict` returns: per input, a (L, D) array in the original units (feature
    targets) or the output text (text targets). Inputs are (L, D) / (L,) arrays or CSV notation for a
    feature source, texts for a text source."""
    from .data.features import parse_sequence

    src_side, tgt_side = model.source, model.target
    if src_side.kind == "features":
        sources = [src_side.encode(parse_sequence(x) if isinstance(x, str) else x) for x in inputs]
    else:
        sources = [src_side.encode(x) for x in inputs]
        if any(len(s) == 0 for s in sources):
            raise ValueError("an input has no tokens")
    if tgt_side.kind == "features":
        return [tgt_side.decode(v) for v in generate_features(model.net, sources, batch_size=batch_size)]
    d = model.config.decode
    hyps = decode_ids(model.net, sources, strategy="beam" if beam > 1 else "greedy", beam_size=beam,
                      max_length=d.max_length, max_length_a=FRAMES_SLOPE, batch_size=batch_size)
    return [tgt_side.decode(h[0].ids) for h in hyps]


def translate_feature_lines(model: Any, lines: list[str], *, beam: int = 1, batch_size: int = 64) -> list[str]:
    """`seq2seq translate` for feature models: lines in CSV notation (or text) -> lines (CSV notation or text)."""
    from .data.features import format_sequence

    outputs = predict(model, lines, beam=beam, batch_size=batch_size)
    return [format_sequence(o) if isinstance(o, np.ndarray) else o for o in outputs]


def eval_feature_file(model: Any, data: str, predictions: Any, *, beam: int = 1, batch_size: int = 64,
                      skip_invalid: bool = False) -> dict[str, Any]:
    """`seq2seq eval` for feature models: metrics of a .npz/.csv file, predictions written as TSV."""
    from .data.features import format_sequence, read_feature_pairs

    cfg = model.config
    pairs, _ = read_feature_pairs(data, cfg.data.source_type, cfg.data.target_type, skip_invalid=skip_invalid,
                                  allow_pickle=cfg.data.npz_allow_pickle)
    ids = [(model.source.encode(s), model.target.encode(t)) for s, t in pairs]
    decode = {"strategy": "beam" if beam > 1 else "greedy", "beam_size": beam, "max_length": cfg.decode.max_length}
    if model.target.kind == "features":
        decode = {}
    metrics, hyps = evaluate_features(model.net, ids, model.target, batch_size=batch_size, device=model.device,
                                      text_metrics=cfg.target_tokenizer in ("word", "sentencepiece"), decode=decode,
                                      prefix="")
    show = lambda x: x if isinstance(x, str) else format_sequence(x)  # noqa: E731
    with open(predictions, "w", encoding="utf-8") as f:
        f.write("source\treference\thypothesis\n")
        for (s, t), h in zip(pairs, hyps):
            f.write(f"{show(s) if len(s) <= 50 else f'({len(s)} frames)'}\t{show(t)}\t{h}\n")
    return {**metrics, "sentences": len(pairs), "predictions": str(predictions)}
