"""From a config to encoded training data: splits, tokenizers + vocabularies per side, id sequences."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from ..config import Config, ConfigError
from .datasets import read_pairs
from .features import FeatureSide, read_feature_pairs
from .tasks import generate_splits
from .tokenizers import Tokenizer, build_tokenizer, load_tokenizer, save_tokenizer
from .vocab import Vocab

log = logging.getLogger("seq2seq")

Pair = tuple[str, str]


@dataclass
class TextSide:
    """One side of the corpus: text <-> ids through a tokenizer and a vocabulary."""

    tokenizer: Tokenizer
    vocab: Vocab
    reverse: bool = False
    kind = "tokens"

    @property
    def size(self) -> int:
        """What the model's embedding/output layer is sized by: the vocabulary size."""
        return len(self.vocab)

    def tokens(self, text: str) -> list[str]:
        """Tokens in reading order (before any reversal)."""
        return self.tokenizer.tokenize(text)

    def encode(self, text: str) -> list[int]:
        """Ids as the model sees them (reversed when the side is reversed)."""
        ids = self.vocab.encode(self.tokenizer.tokenize(text))
        return ids[::-1] if self.reverse else ids

    def decode(self, ids: list[int]) -> str:
        """Text from ids (stops at </s>, drops specials)."""
        return self.tokenizer.detokenize(self.vocab.decode(ids))

    def save(self, directory: Path, name: str) -> None:
        """Write `<name>.vocab.json` and the tokenizer files."""
        self.vocab.save(directory / f"{name}.vocab.json")
        save_tokenizer(self.tokenizer, directory, name)

    @classmethod
    def load(cls, directory: Path, name: str, reverse: bool = False) -> TextSide:
        """Inverse of save."""
        return cls(load_tokenizer(directory, name), Vocab.load(directory / f"{name}.vocab.json"), reverse)


Side = Union[TextSide, FeatureSide]


def load_splits(cfg: Config) -> dict[str, list[Pair]]:
    """The train/valid/test pairs of a built-in task or of the configured files; skipped lines reported."""
    d = cfg.data
    if d.task is not None:
        return generate_splits(d.task, d.train_size, d.valid_size, d.test_size, d.task_seed)
    if d.train is None or d.valid is None:
        raise ConfigError("no data: give --task NAME, or --train FILE and --valid FILE "
                          "(data.task / data.train / data.valid)")
    splits = {}
    for name in ("train", "valid", "test"):
        path = getattr(d, name)
        if path is None:
            continue
        if "features" in (d.source_type, d.target_type):
            pairs, skipped = read_feature_pairs(path, d.source_type, d.target_type, skip_invalid=d.skip_invalid,
                                                allow_pickle=d.npz_allow_pickle)
        else:
            result = read_pairs(path, fmt=d.format, skip_invalid=d.skip_invalid,
                                source_suffix=d.source_suffix, target_suffix=d.target_suffix)
            pairs, skipped = result.pairs, result.skipped
        if skipped:
            log.warning("%s: skipped %d invalid line(s) (data.skip_invalid=true); first: %s",
                        path, len(skipped), skipped[0])
        splits[name] = pairs
    return splits


def build_sides(cfg: Config, train: list[Pair]) -> tuple[Side, Side]:
    """Fit tokenizers and vocabularies (feature sides: normalisation statistics) on the training pairs."""
    d = cfg.data
    if "features" in (d.source_type, d.target_type):
        return _build_mixed_sides(cfg, train)
    sides = []
    for name, kind, texts in (("source", cfg.source_tokenizer, [p[0] for p in train]),
                              ("target", cfg.target_tokenizer, [p[1] for p in train])):
        tok = build_tokenizer(kind, word_split=d.word_split, lowercase=d.lowercase,
                              sp_type=d.sentencepiece_type, sp_vocab_size=d.sentencepiece_vocab_size)
        if kind == "sentencepiece":
            both = texts + ([p[1] for p in train] if d.shared_vocab and name == "source" else [])
            tok.fit(both)
        sides.append((tok, [tok.tokenize(t) for t in texts]))
    if d.shared_vocab:
        vocab = Vocab.build(sides[0][1] + sides[1][1], min_freq=d.min_freq, max_size=d.max_vocab_size)
        vocabs = (vocab, vocab)
    else:
        vocabs = tuple(Vocab.build(toks, min_freq=d.min_freq, max_size=d.max_vocab_size) for _, toks in sides)
    return (TextSide(sides[0][0], vocabs[0], d.reverse_source), TextSide(sides[1][0], vocabs[1]))


def _build_mixed_sides(cfg: Config, train: list[Pair]) -> tuple[Side, Side]:
    d = cfg.data
    out: list[Side] = []
    for i, (name, kind, tok_kind) in enumerate((("source", d.source_type, cfg.source_tokenizer),
                                                ("target", d.target_type, cfg.target_tokenizer))):
        values = [p[i] for p in train]
        reverse = d.reverse_source and name == "source"
        if kind == "features":
            out.append(FeatureSide.fit(values, cfg.model.feature_norm, reverse))
            continue
        tok = build_tokenizer(tok_kind, word_split=d.word_split, lowercase=d.lowercase,
                              sp_type=d.sentencepiece_type, sp_vocab_size=d.sentencepiece_vocab_size)
        if tok_kind == "sentencepiece":
            tok.fit(values)
        vocab = Vocab.build([tok.tokenize(v) for v in values], min_freq=d.min_freq, max_size=d.max_vocab_size)
        out.append(TextSide(tok, vocab, reverse))
    return out[0], out[1]


def load_sides(cfg: Config, directory: Path) -> tuple[Side, Side]:
    """Both sides saved in a checkpoint directory, text or features as configured."""
    d = cfg.data
    return tuple((FeatureSide if kind == "features" else TextSide).load(directory, name, reverse=rev)
                 for name, kind, rev in (("source", d.source_type, d.reverse_source),
                                         ("target", d.target_type, False)))  # type: ignore[return-value]


def encode_pairs(pairs: list[Pair], src: TextSide, tgt: TextSide, max_source_length: int | None = None,
                 max_target_length: int | None = None, label: str = "train") -> list[tuple[list[int], list[int]]]:
    """Id pairs; pairs over the length limits are dropped and counted in a warning."""
    out, dropped = [], 0
    for s, t in pairs:
        si, ti = src.encode(s), tgt.encode(t)
        if (max_source_length and len(si) > max_source_length) or (max_target_length and len(ti) > max_target_length):
            dropped += 1
            continue
        out.append((si, ti))
    if dropped:
        log.warning("%s: dropped %d of %d pairs longer than data.max_source_length=%s / "
                    "data.max_target_length=%s", label, dropped, len(pairs), max_source_length, max_target_length)
    return out
