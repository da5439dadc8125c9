"""Encoded training pairs as the loop reads them: their lengths as arrays (what batching needs) and the pairs of
one batch on request, whether they sit in memory (text files) or in memory-mapped shards (`seq2seq preprocess`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

Pair = tuple[Any, Any]


class EncodedPairs(Protocol):
    """A split of encoded pairs: `source_lengths`/`target_lengths` (N,) arrays, and pairs taken by index;
    `corpora` names the corpora it joins (name, first, pairs: contiguous runs), empty when it is one file."""

    source_lengths: np.ndarray
    target_lengths: np.ndarray
    corpora: list[dict[str, Any]]

    def __len__(self) -> int:
        """The number of pairs."""

    def __getitem__(self, i: int) -> Pair:
        """One encoded pair (source as the encoder reads it, target ids)."""

    def take(self, indices: Sequence[int] | np.ndarray) -> list[Pair]:
        """The encoded pairs at `indices`, in that order."""


class PairList:
    """Encoded pairs held in a list (the text-file path), with their lengths as arrays."""

    def __init__(self, pairs: list[Pair]) -> None:
        self.pairs = pairs
        self.source_lengths = np.array([len(s) for s, _ in pairs], dtype=np.int64)
        self.target_lengths = np.array([len(t) for _, t in pairs], dtype=np.int64)
        self.corpora: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> Pair:
        return self.pairs[i]

    def take(self, indices: Sequence[int] | np.ndarray) -> list[Pair]:
        """The pairs at `indices`."""
        return [self.pairs[i] for i in np.asarray(indices).tolist()]
