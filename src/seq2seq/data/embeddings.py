"""Pretrained word vectors in the text formats of word2vec, GloVe and fastText (`.vec`), read for a vocabulary.

word2vec and fastText files start with a header line `COUNT DIM`; GloVe files have none. Every other
line is a token and its DIM values, separated by spaces (a few GloVe tokens hold spaces themselves:
the last DIM fields are the values). Only the vocabulary's tokens are kept, so a file of millions of
vectors costs one pass and a vocabulary-sized matrix.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from .datasets import DataError
from .lines import numbered_lines
from .vocab import PAD, Vocab


def _header(fields: list[str]) -> int | None:
    """The dimension a `COUNT DIM` header line declares, or None if the line is a vector."""
    if len(fields) == 2 and all(f.isdigit() for f in fields):
        return int(fields[1])
    return None


def read_vectors(path: str | Path, vocab: Vocab, dim: int, key: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Vectors (V, dim) for the vocabulary's tokens found in the file, and which were found (V,) bool.

    `key` names the config key of the size the vectors must have (in errors). Tokens listed twice keep
    their first vector; <pad> is never read (its embedding stays zero).
    """
    path = Path(path)
    vectors = torch.zeros(len(vocab), dim)
    found = torch.zeros(len(vocab), dtype=torch.bool)
    file_dim = None
    for number, line in numbered_lines(path):
        fields = line.rstrip(" ").split(" ")
        if number == 1 and (declared := _header(fields)) is not None:
            file_dim = declared
            if declared != dim:
                raise DataError(path, number, f"the header declares vectors of {declared} values, but {key} is {dim}")
            continue
        if file_dim is None:
            file_dim = len(fields) - 1
            if file_dim != dim:
                raise DataError(path, number, f"a vector of {file_dim} values, but {key} is {dim}")
        if len(fields) < file_dim + 1 or not line.strip():
            raise DataError(path, number, f"{len(fields) - 1} values, expected a token and {file_dim}")
        token = " ".join(fields[:-file_dim])
        idx = vocab.encode([token])[0]
        if token not in vocab or idx == PAD or found[idx]:
            continue
        try:
            values = [float(v) for v in fields[-file_dim:]]
        except ValueError:
            raise DataError(path, number, f"the vector of {token!r} holds a value that is not a number") from None
        if not all(math.isfinite(v) for v in values):
            raise DataError(path, number, f"the vector of {token!r} holds a non-finite value")
        vectors[idx] = torch.tensor(values)
        found[idx] = True
    if file_dim is None:
        raise DataError(path, 1, "no vectors in the file")
    return vectors, found
