"""Scores of generated outputs against references: exact match, BLEU, chrF and CER for token targets,
MAE and RMSE for vector targets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from seq2seq.config import Config


def metric_names(cfg: Config) -> frozenset[str]:
    """What a run's generated outputs are scored by: exact match and chrF for every token target, BLEU for
    word or subword targets, CER for speech (feature sources with token targets); MAE/RMSE for vectors."""
    if cfg.data.target_type == "features":
        return frozenset({"mae", "rmse"})
    # chrF reads character n-grams, so it scores character and jamo targets as well as words; BLEU's
    # n-grams are whitespace-separated words, meaningless on a string of digits.
    names = {"exact_match", "chrf"}
    if cfg.target_tokenizer in ("word", "sentencepiece"):
        names.add("bleu")
    if cfg.data.source_type == "features":
        names.add("cer")
    return frozenset(names)


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


def char_error_rate(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Character edits needed to turn the hypotheses into the references, per reference character."""
    edits = sum(levenshtein(h, r) for h, r in zip(hypotheses, references, strict=True))
    return edits / max(sum(len(r) for r in references), 1)


def text_scores(hypotheses: list[str], references: list[str],
                names: frozenset[str] = frozenset({"bleu", "chrf"})) -> dict[str, float]:
    """Corpus BLEU and chrF (0-100) with sacrebleu, those of the two in `names`."""
    # Imported here, not at the top: sacrebleu loaded before torchrun's process group forms made gloo abort
    # at exit ("terminate called without an active exception") in about one two-process run in four.
    import sacrebleu

    scorers = {"bleu": sacrebleu.corpus_bleu, "chrf": sacrebleu.corpus_chrf}
    return {name: score(hypotheses, [references]).score for name, score in scorers.items() if name in names}


def token_scores(outputs: list[Any], references: list[Any], target: Any, names: frozenset[str]) -> dict[str, float]:
    """Exact match of the ids, and on the decoded texts BLEU, chrF and CER when asked for."""
    scores = {"exact_match": sum(o == r for o, r in zip(outputs, references)) / max(len(references), 1)}
    hyps, refs = [target.decode(o) for o in outputs], [target.decode(r) for r in references]
    if names & {"bleu", "chrf"}:
        scores.update(text_scores(hyps, refs, names))
    if "cer" in names:
        scores["cer"] = char_error_rate(hyps, refs)
    return scores


def aligned_error(hyp: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Per-value errors of a generated sequence against its reference over the reference's steps; steps
    the generation did not reach are compared with its last vector (zeros if it generated nothing)."""
    if len(hyp) < len(gold):
        fill = hyp[-1:] if len(hyp) else np.zeros((1, gold.shape[1]), gold.dtype)
        hyp = np.concatenate([hyp, np.repeat(fill, len(gold) - len(hyp), 0)], 0)
    return (hyp[: len(gold)] - gold).ravel()


def vector_scores(outputs: list[Any], references: list[Any], target: Any, names: frozenset[str]) -> dict[str, float]:
    """MAE and RMSE in the data's original units, over each reference's steps."""
    errors = [aligned_error(target.decode(o), target.decode(r)) for o, r in zip(outputs, references)]
    flat = np.concatenate(errors) if errors else np.zeros(1)
    return {"mae": float(np.abs(flat).mean()), "rmse": float(np.sqrt((flat ** 2).mean()))}


# The target side's kind -> how its generated outputs are scored.
SCORERS = {"tokens": token_scores, "features": vector_scores}
