"""From a config to encoded training data: splits, tokenizers + vocabularies per side, id sequences."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..config import Config, ConfigError
from .datasets import read_pairs
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
        result = read_pairs(path, fmt=d.format, skip_invalid=d.skip_invalid,
                            source_suffix=d.source_suffix, target_suffix=d.target_suffix)
        if result.skipped:
            log.warning("%s: skipped %d invalid line(s) (data.skip_invalid=true); first: %s",
                        path, len(result.skipped), result.skipped[0])
        splits[name] = result.pairs
    return splits


def build_sides(cfg: Config, train: list[Pair]) -> tuple[TextSide, TextSide]:
    """Fit tokenizers and vocabularies on the training pairs."""
    d = cfg.data
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
