"""What a step decides and how long a row may run, for every engine: `Choice`, the output length caps of token
and vector targets (decode.max_length, max_length_a/b, feature_length, never above decode.max_output_length)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import DecodeConfig
from .ops import Array, ArrayOps


@dataclass(frozen=True)
class Choice:
    """One generation step's decision for each row: what to feed back (B, ...), what to emit (B, ...), its
    log-probability (B,) and whether the row ends here (B,) bool."""

    feed: Any
    output: Any
    score: Any
    ended: Any


def max_token_steps(src_lengths: Array, options: DecodeConfig, ops: ArrayOps) -> Array:
    """Per-row output cap: decode.max_length if set, else max_length_a * source length + max_length_b; never
    above decode.max_output_length. (B,)"""
    ceiling = options.max_output_length
    if options.max_length > 0:
        return ops.full(tuple(src_lengths.shape), min(options.max_length, ceiling), "long")
    # Clamped as floats: a huge max_length_a would overflow the conversion to integers.
    caps = ops.as_float(src_lengths) * options.max_length_a + options.max_length_b
    return ops.as_long(ops.clip(caps, 1, ceiling))


def max_vector_steps(src_lengths: Array, options: DecodeConfig, target_length: int | None, stop_flag: bool,
                ops: ArrayOps) -> tuple[Array, bool]:
    """How many vectors to generate per row (B,), and whether a stop flag may end a row earlier.

    decode.feature_length: fixed = data.target_length; source = the source's length; stop = until the stop
    flag, capped by the max_length rules; auto = fixed if data.target_length is set, else stop with a stop
    flag, else source.
    """
    mode = options.feature_length
    if mode == "auto":
        mode = "fixed" if target_length else "stop" if stop_flag else "source"
    ceiling = options.max_output_length
    if mode == "fixed":
        return ops.full(tuple(src_lengths.shape), min(int(target_length or 1), ceiling), "long"), False
    if mode == "source":
        return ops.clip(src_lengths, 0, ceiling), False
    return max_token_steps(src_lengths, options, ops), True
