"""Several training corpora in one run, each drawn as often as its weight says (OpenNMT-py's corpus `weight`).

An epoch keeps the size of all the corpora together; corpus c fills the share w_c / sum(w) of it: a corpus
weighted above its size is repeated (whole shuffled passes, then part of one more), one below it is subsampled,
a different part each epoch. The draw depends on the seed and the epoch alone, so a resumed run draws the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import ConfigError

KEY = "data.corpus_weights"


def parse_weights(text: str, corpora: list[dict[str, Any]]) -> list[float]:
    """`name:weight,...` -> one weight per corpus in order (a corpus not named weighs 1); ConfigError naming the
    key for an unknown name or a bad number."""
    names = [c["name"] for c in corpora]
    weights = dict.fromkeys(names, 1.0)
    for item in text.split(","):
        name, sep, value = item.strip().rpartition(":")
        if not sep or not name:
            raise ConfigError(f"{KEY}: expected name:weight items separated by commas, got {item.strip()!r}")
        if name not in weights:
            raise ConfigError(f"{KEY}: no training corpus named {name!r}; the corpora are: {', '.join(names)}")
        try:
            weight = float(value)
        except ValueError:
            raise ConfigError(f"{KEY}: weight of {name!r} must be a number, got {value!r}") from None
        if not np.isfinite(weight) or weight < 0:
            raise ConfigError(f"{KEY}: weight of {name!r} must be a finite number >= 0, got {value!r}")
        weights[name] = weight
    if not any(weights.values()):
        raise ConfigError(f"{KEY}: every weight is 0; at least one corpus must be drawn")
    return [weights[n] for n in names]


def epoch_sample(corpora: list[dict[str, Any]], weights: list[float], seed: int, epoch: int) -> np.ndarray:
    """The pair indices one epoch draws (unordered: batching shuffles them)."""
    total = sum(int(c["pairs"]) for c in corpora)
    rng = np.random.Generator(np.random.PCG64([seed & (2**64 - 1), epoch, 1]))
    dtype = np.int32 if total < 2**31 else np.int64
    parts = []
    for corpus, weight in zip(corpora, weights):
        size, first = int(corpus["pairs"]), int(corpus["first"])
        want = round(total * weight / sum(weights))
        if not size or not want:
            continue
        passes, rest = divmod(want, size)
        for _ in range(passes):
            parts.append(first + rng.permutation(size).astype(dtype))
        if rest:
            parts.append(first + rng.permutation(size)[:rest].astype(dtype))
    return np.concatenate(parts) if parts else np.zeros(0, dtype)
