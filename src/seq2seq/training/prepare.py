"""Run preparation: the data splits, both sides (fitted, or read back to resume), the model, encoded pairs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bundle import Bundle, assemble
from ..checkpoint import checkpoint_dir
from ..config import Config, ConfigError
from ..data.corpus import build_sides, encode_pairs, load_sides, load_splits

Pairs = list[tuple[Any, Any]]


@dataclass
class Prepared:
    """A freshly initialised bundle and the encoded splits it trains and evaluates on."""

    bundle: Bundle
    train: Pairs
    valid: Pairs
    test: Pairs


def prepare(cfg: Config, out: Path, resume: bool) -> Prepared:
    """Read the data, fit the sides on the training split (or load those of `out/checkpoints/last` to
    resume), build the model and encode the pairs (training pairs over the length limits dropped)."""
    splits = load_splits(cfg)
    if resume:
        source, target = load_sides(cfg, checkpoint_dir(out, "last"))
    else:
        source, target = build_sides(cfg, splits["train"])
    d, dec = cfg.data, cfg.decode
    train = encode_pairs(splits["train"], source, target, d.max_source_length, d.max_target_length)
    if not train:
        raise ConfigError("no training pairs left after the length filter (data.max_*_length)")
    # Evaluation sees pairs the training filter drops, within the bounds of generation (one runaway line
    # would exhaust memory there just the same).
    bounds = {"max_source_length": dec.max_source_length, "max_target_length": dec.max_output_length,
              "keys": ("decode.max_source_length", "decode.max_output_length")}
    valid = encode_pairs(splits["valid"], source, target, label="valid", **bounds)
    if not valid:
        raise ConfigError("no validation pairs left within decode.max_source_length / decode.max_output_length")
    test = encode_pairs(splits["test"], source, target, label="test", **bounds) if splits.get("test") else []
    return Prepared(assemble(cfg, source, target), train, valid, test)
