"""Run preparation: the data splits, both sides (fitted, or read back to resume), the model (with pretrained
embeddings), encoded pairs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import Config, ConfigError
from ..data.copying import encode_pair
from ..data.corpus import build_sides, encode_pairs, load_sides, load_splits, within_limits
from ..data.embeddings import read_vectors
from ..data.pairs import EncodedPairs, PairList
from ..data.shards import MappedPairs, open_preprocessed
from ..runs.bundle import Bundle, assemble
from ..runs.checkpoint import checkpoint_dir

log = logging.getLogger("seq2seq")

Pairs = list[tuple[Any, Any]]


@dataclass
class Prepared:
    """A freshly initialised bundle, the encoded splits it trains and evaluates on, and the raw targets of the
    evaluated splits (what generated outputs are scored against), one per encoded pair."""

    bundle: Bundle
    train: EncodedPairs
    valid: Pairs
    test: Pairs
    valid_references: list[Any]
    test_references: list[Any]


def prepare(cfg: Config, out: Path, resume: bool) -> Prepared:
    """Read the data, fit the sides on the training split (or load those of `out/checkpoints/last` to
    resume), build the model and encode the pairs (training pairs over the length limits dropped); or, with
    data.preprocessed, open its shards memory-mapped."""
    if cfg.data.preprocessed is not None:
        return _prepare_preprocessed(cfg, out, resume)
    splits = load_splits(cfg)
    if resume:
        source, target = load_sides(cfg, checkpoint_dir(out, "last"))
    else:
        source, target = build_sides(cfg, splits["train"])
    d = cfg.data
    train = encode_pairs(splits["train"], source, target, d.max_source_length, d.max_target_length)
    if not train:
        raise ConfigError("no training pairs left after the length filter (data.max_*_length)")
    # Evaluation sees pairs the training filter drops, within the bounds of generation (one runaway line
    # would exhaust memory there just the same).
    valid, valid_refs = _evaluated(splits["valid"], source, target, cfg, "valid")
    if not valid:
        raise ConfigError("no validation pairs left within decode.max_source_length / decode.max_output_length")
    test, test_refs = _evaluated(splits.get("test") or [], source, target, cfg, "test")
    bundle = assemble(cfg, source, target)
    _pretrained_embeddings(bundle, resume)
    return Prepared(bundle, PairList(train), valid, test, valid_refs, test_refs)


def _prepare_preprocessed(cfg: Config, out: Path, resume: bool) -> Prepared:
    """The splits of a `seq2seq preprocess` directory, memory-mapped; its sides (or the checkpoint's to resume)."""
    directory = Path(cfg.data.preprocessed)
    unread = [f"data.{key}" for key in ("task", "train", "valid", "test") if getattr(cfg.data, key) is not None]
    if unread:
        log.info("%s: not read (the splits come from data.preprocessed=%s)", ", ".join(unread), directory)
    source, target, splits = open_preprocessed(cfg, directory)
    if resume:
        source, target = load_sides(cfg, checkpoint_dir(out, "last"))
    dec = cfg.decode
    bounds = (dec.max_source_length, dec.max_output_length)
    kept = {name: _within(pairs, *bounds, name) for name, pairs in splits.items() if name != "train"}
    valid = splits["valid"].take(kept["valid"])
    if not valid:
        raise ConfigError("no validation pairs left within decode.max_source_length / decode.max_output_length")
    test = splits["test"].take(kept["test"]) if "test" in splits else []
    bundle = assemble(cfg, source, target)
    _pretrained_embeddings(bundle, resume)
    return Prepared(bundle, splits["train"], valid, test, _references(splits["valid"], kept["valid"], valid, target),
                    _references(splits["test"], kept["test"], test, target) if test else [])


def _references(pairs: MappedPairs, kept: np.ndarray, encoded: Pairs, target: Any) -> list[Any]:
    """The raw reference lines of an evaluated split, as the data file held them; for a directory made before
    they were kept, the encoded targets decoded (a reference word outside the vocabulary reads <unk> there)."""
    raw = pairs.references(kept)
    if raw is not None:
        return raw
    if target.kind == "tokens":
        log.warning("references: the preprocessed targets decoded (%s was preprocessed before the raw reference "
                    "lines were kept; preprocess it again for scores exact against the data files)", pairs.directory)
    return [target.decode(t) for _, t in encoded]


def _within(pairs: MappedPairs, max_source: int, max_target: int, label: str) -> np.ndarray:
    """Indices of the pairs within the bounds of generation, the others counted in a warning."""
    kept = np.flatnonzero((pairs.source_lengths <= max_source) & (pairs.target_lengths <= max_target))
    if len(kept) < len(pairs):
        log.warning("%s: dropped %d of %d pairs longer than decode.max_source_length=%d or "
                    "decode.max_output_length=%d", label, len(pairs) - len(kept), len(pairs), max_source, max_target)
    return kept


def _evaluated(pairs: Pairs, source: Any, target: Any, cfg: Config, label: str) -> tuple[Pairs, list[Any]]:
    """The encoded pairs of an evaluated split within generation's bounds, and their raw targets."""
    dec = cfg.decode
    encoded = [encode_pair(source, target, s, t) for s, t in pairs]
    kept = within_limits(encoded, dec.max_source_length, dec.max_output_length, label,
                         ("decode.max_source_length", "decode.max_output_length"))
    return [encoded[i] for i in kept], [pairs[i][1] for i in kept]


def _pretrained_embeddings(bundle: Bundle, resume: bool) -> None:
    """Initialise the embeddings from model.source_embeddings / target_embeddings (a fresh run only: a resumed
    one reads its trained weights) and freeze them with model.freeze_embeddings (every run: requires_grad is
    not saved)."""
    m = bundle.config.model
    model = bundle.model
    for key, path, layer, side in (("model.source_embeddings", m.source_embeddings, model.encoder.input, bundle.source),
                                   ("model.target_embeddings", m.target_embeddings, model.head.input, bundle.target)):
        if not path:
            continue
        if not resume:
            vectors, found = read_vectors(path, side.vocab, layer.embedding_dim, "model.embedding_size")
            with torch.no_grad():
                layer.weight[found] = vectors[found].to(layer.weight.dtype)
            log.info("%s: %d of %d vocabulary entries found in %s (the others keep their random initialisation)",
                     key, int(found.sum()), len(side.vocab), path)
        if m.freeze_embeddings:
            layer.weight.requires_grad_(False)
