"""The output heads' generation rules in numpy: what `TokenHead` and `VectorHead` (models/heads.py) say of
`choose`, `blank`, `caps` and `finish`, over the exported step graph's outputs, for the ONNX engine. The caps
are `search.rules`' own; tests hold the choices equal to the torch heads'."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import Config, DecodeConfig
from ..data.vocab import EOS, PAD
from ..search.ops import NumpyOps
from ..search.rules import Choice, max_token_steps, max_vector_steps

_OPS = NumpyOps()


class TokenRules:
    """Token targets: the step graph gives log-probabilities (B, V), or each row's best few."""

    kind = "tokens"
    best = 2  # the candidates greedy search asks the step graph for: the best, and the next if it is </s>

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size

    def choose(self, scores: tuple[np.ndarray, np.ndarray], step: int, options: DecodeConfig) -> Choice:
        """Greedy: the most likely token; </s> is barred before decode.min_length tokens. scores: each row's two
        best (log-probabilities, tokens), largest first."""
        values, tokens = scores
        first = ~((tokens[:, 0] == EOS) & (step < options.min_length))
        token = np.where(first, tokens[:, 0], tokens[:, 1])
        return Choice(token, token, np.where(first, values[:, 0], values[:, 1]), token == EOS)

    def blank(self, batch: int, like: np.ndarray) -> np.ndarray:
        """What a finished row emits: <pad>. (B,)"""
        return np.full(batch, PAD, dtype=np.int64)

    def max_steps(self, src_lengths: np.ndarray, options: DecodeConfig) -> tuple[np.ndarray, bool]:
        """Per-row step cap (B,) and whether a row may end on its own (at </s>: always)."""
        return max_token_steps(src_lengths, options, _OPS), True

    def finish(self, steps: np.ndarray) -> list[int]:
        """One row's emitted steps (L,) -> its output ids, without the closing </s>."""
        ids = steps.tolist()
        return ids[:-1] if ids and ids[-1] == EOS else ids


class VectorRules:
    """Vector targets: the step graph gives the vector (B, D), then the stop flag's logit if the model has one."""

    kind = "features"
    best = 0  # greedy reads the whole output

    def __init__(self, dim: int, stop_flag: bool, target_length: int | None):
        self.dim = dim
        self.stop_flag = stop_flag
        self.target_length = target_length

    def choose(self, scores: np.ndarray, step: int, options: DecodeConfig) -> Choice:
        """The predicted vector is emitted and fed back; with a stop flag a row ends where it fires."""
        value = scores[:, : self.dim]
        ended = scores[:, self.dim] > 0 if self.stop_flag else np.zeros(len(value), dtype=bool)
        return Choice(value, value, np.zeros(len(value), dtype=np.float32), ended)

    def blank(self, batch: int, like: np.ndarray) -> np.ndarray:
        """What a finished row emits: zeros. (B, D)"""
        return np.zeros((batch, self.dim), dtype=like.dtype)

    def max_steps(self, src_lengths: np.ndarray, options: DecodeConfig) -> tuple[np.ndarray, bool]:
        """How many vectors per row (B,), and whether the stop flag may end a row earlier (see
        `search.rules.max_vector_steps`)."""
        return max_vector_steps(src_lengths, options, self.target_length, self.stop_flag, _OPS)

    def finish(self, steps: np.ndarray) -> Any:
        """One row's emitted vectors (L, D), as they are."""
        return steps


def rules_for(config: Config, target_size: int) -> TokenRules | VectorRules:
    """The rules of the model's target side."""
    if config.data.target_type == "tokens":
        return TokenRules(target_size)
    return VectorRules(target_size, config.model.stop_flag, config.data.target_length)
