"""Scores of generated outputs against references: exact match, BLEU (two ways), chrF, CER and the share of
outputs holding `<unk>` for token targets, MAE and RMSE for vector targets.

Token outputs are scored as people read them: the detokenised text `seq2seq translate` prints, against the
reference lines as the data file holds them. A reference is never passed through the vocabulary, so a
reference word the vocabulary lacks counts as missed, not as a match for the model's `<unk>`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..config import Config
from ..data.vocab import SPECIALS

UNK_TOKEN = SPECIALS[1]
# The `word` tokenizer's `punct` split (words, then every other non-space character alone), `<unk>` kept whole.
_LITERATURE_TOKEN = re.compile(re.escape(UNK_TOKEN) + r"|\w+|[^\w\s]")


def metric_names(cfg: Config) -> frozenset[str]:
    """What a run's generated outputs are scored by: exact match and chrF for every token target, BLEU for
    word or subword targets, CER for speech (feature sources with token targets); MAE/RMSE for vectors."""
    if cfg.data.target_type == "features":
        return frozenset({"mae", "rmse"})
    # chrF reads character n-grams, so it scores character and jamo targets as well as words; BLEU's
    # n-grams are whitespace-separated words, meaningless on a string of digits.
    names = {"exact_match", "chrf", "unk_share"}
    if cfg.target_tokenizer in ("word", "sentencepiece"):
        names.update({"bleu", "bleu_tok"})
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


def literature_tokens(text: str) -> str:
    """Text as the Multi30k literature scores it: lower-cased, words and punctuation marks split apart (as the
    `word` tokenizer's `punct` split does), joined by single spaces; `<unk>` stays one token."""
    return " ".join(_LITERATURE_TOKEN.findall(text.lower()))


def text_scores(hypotheses: list[str], references: list[str],
                names: frozenset[str] = frozenset({"bleu", "chrf"})) -> dict[str, float]:
    """Corpus scores (0-100) with sacrebleu, those in `names`: `bleu` is sacreBLEU's default (13a
    tokenisation, cased), `bleu_tok` the lower-cased tokenised BLEU of the literature (both sides through
    `literature_tokens`, then no further tokenisation), `chrf` chrF2 (cased)."""
    # Imported here, not at the top: sacrebleu loaded before torchrun's process group forms made gloo abort
    # at exit ("terminate called without an active exception") in about one two-process run in four.
    import sacrebleu

    out = {}
    if "bleu" in names:
        out["bleu"] = sacrebleu.corpus_bleu(hypotheses, [references]).score
    if "bleu_tok" in names:
        out["bleu_tok"] = sacrebleu.corpus_bleu([literature_tokens(h) for h in hypotheses],
                                                [[literature_tokens(r) for r in references]], tokenize="none",
                                                force=True).score
    if "chrf" in names:
        out["chrf"] = sacrebleu.corpus_chrf(hypotheses, [references]).score
    return out


def _same_text(a: str, b: str) -> bool:
    """Equal up to runs of whitespace (a data file's trailing space is no error of the model's)."""
    return a.split() == b.split() if a.strip() or b.strip() else True


def token_scores(outputs: list[Any], references: list[Any], raw: Sequence[Any], target: Any,
                 names: frozenset[str]) -> dict[str, float]:
    """Scores of generated ids as `translate` prints them (`target.format(target.decode(...))`) against the
    raw reference texts `raw`: exact match, BLEU, chrF and CER when asked for, and the share of outputs
    holding `<unk>`. `references` (the encoded references) are not read: what the vocabulary made of a
    reference is not what a reader compares with."""
    hyps = [target.format(target.decode(o)) for o in outputs]
    refs = [str(r) for r in raw]
    if len(refs) != len(hyps):
        raise ValueError(f"{len(hyps)} outputs but {len(refs)} reference texts")
    scores = {"exact_match": sum(_same_text(h, r) for h, r in zip(hyps, refs)) / max(len(refs), 1)}
    if "unk_share" in names:
        scores["unk_share"] = sum(UNK_TOKEN in target.output_labels(o) for o in outputs) / max(len(outputs), 1)
    if names & {"bleu", "bleu_tok", "chrf"}:
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


def vector_scores(outputs: list[Any], references: list[Any], raw: Sequence[Any], target: Any,
                  names: frozenset[str]) -> dict[str, float]:
    """MAE and RMSE in the data's original units, over each (encoded) reference's steps; `raw` is not read."""
    errors = [aligned_error(target.decode(o), target.decode(r)) for o, r in zip(outputs, references)]
    flat = np.concatenate(errors) if errors else np.zeros(1)
    return {"mae": float(np.abs(flat).mean()), "rmse": float(np.sqrt((flat ** 2).mean()))}


# The target side's kind -> how its generated outputs are scored.
SCORERS = {"tokens": token_scores, "features": vector_scores}
