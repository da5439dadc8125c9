"""From a config to encoded data: the splits, each side fitted on the training split (or loaded), id pairs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..config import Config, ConfigError
from .copying import CopySourceSide, encode_pair
from .datasets import read_pairs
from .feature_files import read_feature_pairs
from .reversal import InputReversal
from .sides import SIDES, FeatureSide, Side, TokenSide
from .tasks import generate_splits
from .tokenizers import build_tokenizer
from .vocab import Vocab
from .vocab_file import read_vocab

log = logging.getLogger("seq2seq")

Pair = tuple[Any, Any]

# SentencePiece learns its pieces from at most this many texts per side (Kudo's trainer itself samples 1M by
# default): beyond that a larger corpus changes the pieces little and costs memory and minutes.
SENTENCEPIECE_SAMPLE = 1_000_000


def sample_stride(count: int, limit: int = SENTENCEPIECE_SAMPLE) -> int:
    """Every how many texts one is taken so that at most `limit` of `count` are (1: all of them)."""
    return max(1, -(-count // limit))


def read_split(path: str | Path, cfg: Config, skip_invalid: bool | None = None) -> list[Pair]:
    """The raw pairs of one data file as the config reads it (feature files when a side is real-valued);
    skipped lines are reported."""
    d = cfg.data
    skip = d.skip_invalid if skip_invalid is None else skip_invalid
    if "features" in (d.source_type, d.target_type):
        pairs, skipped = read_feature_pairs(path, d.source_type, d.target_type, skip_invalid=skip,
                                            allow_pickle=d.npz_allow_pickle)
    else:
        result = read_pairs(path, fmt=d.format, skip_invalid=skip, source_suffix=d.source_suffix,
                            target_suffix=d.target_suffix)
        pairs, skipped = result.pairs, result.skipped
    if skipped:
        log.warning("%s: skipped %d invalid line(s) (data.skip_invalid=true); first: %s",
                    path, len(skipped), skipped[0])
    return pairs


def load_splits(cfg: Config) -> dict[str, list[Pair]]:
    """The train/valid(/test) pairs of a built-in task or of the configured files."""
    d = cfg.data
    if d.task is not None:
        return generate_splits(d.task, d.train_size, d.valid_size, d.test_size, d.task_seed)
    if d.train is None or d.valid is None:
        raise ConfigError("no data: give --task NAME, or --train FILE and --valid FILE "
                          "(data.task / data.train / data.valid)")
    return {name: read_split(getattr(d, name), cfg) for name in ("train", "valid", "test")
            if getattr(d, name) is not None}


def _fit_tokens(cfg: Config, kind: str, sides: list[list[str]], reversal: InputReversal,
                vocab_file: tuple[str, str | None] = ("", None)) -> TokenSide:
    """A tokenizer (fitted if it learns) and a vocabulary: built from the texts of `sides` (one list, or the
    source's and the target's for a shared vocabulary), or read from the file of `vocab_file` = (its config key,
    its path or None)."""
    texts = [t for side in sides for t in side]
    d = cfg.data
    tok = build_tokenizer(kind, word_split=d.word_split, lowercase=d.lowercase, sp_type=d.sentencepiece_type,
                          sp_vocab_size=d.sentencepiece_vocab_size)
    if kind == "sentencepiece":
        tok.fit(sentencepiece_texts(*sides))
    key, path = vocab_file
    if path:
        vocab = read_vocab(path, d.min_freq, d.max_vocab_size, key)
    else:
        vocab = Vocab.build([tok.tokenize(t) for t in texts], min_freq=d.min_freq, max_size=d.max_vocab_size)
    return TokenSide(tok, vocab, reversal)


def sentencepiece_texts(*sides: list[str]) -> list[str]:
    """What a sentencepiece model learns from: every `sample_stride`-th text of each side, sides one after the other."""
    return [t for texts in sides for t in texts[::sample_stride(len(texts))]]


def _fit_features(cfg: Config, _: str, sides: list[list[Any]], reversal: InputReversal,
                  vocab_file: tuple[str, str | None] = ("", None)) -> FeatureSide:
    return FeatureSide.fit(sides[0], cfg.model.feature_norm, reversal)


_FIT = {"tokens": _fit_tokens, "features": _fit_features}


def build_sides(cfg: Config, train: list[Pair]) -> tuple[Side, Side]:
    """Fit both sides on the training pairs: tokenizers and vocabularies, or normalisation statistics."""
    d = cfg.data
    source_reversal = InputReversal(d.reverse_source)
    sources, targets = [p[0] for p in train], [p[1] for p in train]
    if d.shared_vocab:
        # One tokenizer and one vocabulary fitted on both sides' texts (the config made both sides text).
        vocab_file = ("data.target_vocab", d.target_vocab) if d.target_vocab else ("data.source_vocab", d.source_vocab)
        shared = _fit_tokens(cfg, cfg.source_tokenizer, [sources, targets], source_reversal, vocab_file)
        return _copying(cfg, shared, TokenSide(shared.tokenizer, shared.vocab))
    return _copying(cfg, _FIT[d.source_type](cfg, cfg.source_tokenizer, [sources], source_reversal,
                                             ("data.source_vocab", d.source_vocab)),
                    _FIT[d.target_type](cfg, cfg.target_tokenizer, [targets], InputReversal(),
                                        ("data.target_vocab", d.target_vocab)))


def _copying(cfg: Config, source: Side, target: Side) -> tuple[Side, Side]:
    """With model.copy the source side also maps each source word into the target's extended vocabulary."""
    if cfg.model.copy:
        return CopySourceSide.around(source, target.vocab), target
    return source, target


def load_sides(cfg: Config, directory: Path) -> tuple[Side, Side]:
    """Both sides saved in a checkpoint directory."""
    d = cfg.data
    return _copying(cfg, SIDES[d.source_type].load(directory, "source", InputReversal(d.reverse_source)),
                    SIDES[d.target_type].load(directory, "target", InputReversal()))


def encode_pairs(pairs: list[Pair], source: Side, target: Side, max_source_length: int | None = None,
                 max_target_length: int | None = None, label: str = "train",
                 keys: tuple[str, str] = ("data.max_source_length", "data.max_target_length")) -> list[Pair]:
    """Encoded pairs; pairs over the length limits (config keys `keys`) are dropped and counted in a warning."""
    encoded = [encode_pair(source, target, s, t) for s, t in pairs]
    return [encoded[i] for i in within_limits(encoded, max_source_length, max_target_length, label, keys)]


def within_limits(encoded: list[Pair], max_source_length: int | None, max_target_length: int | None, label: str,
                  keys: tuple[str, str]) -> list[int]:
    """Indices of the encoded pairs within the length limits (None = no limit); the others are counted in a
    warning naming the limits' config keys."""
    kept = [i for i, (s, t) in enumerate(encoded)
            if not (max_source_length and len(s) > max_source_length)
            and not (max_target_length and len(t) > max_target_length)]
    if len(kept) < len(encoded):
        limits = " or ".join(f"{key}={value}" for key, value in zip(keys, (max_source_length, max_target_length))
                             if value)
        log.warning("%s: dropped %d of %d pairs longer than %s", label, len(encoded) - len(kept), len(encoded),
                    limits)
    return kept
