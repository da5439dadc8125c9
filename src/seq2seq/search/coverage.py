"""The GNMT coverage penalty (Wu et al. 2016) as beam search adds it, for every engine: cp = beta * sum_i
log(min(sum_t a_ti, 1)) over real source positions, 0 when every position got a total weight of at least 1 and
negative for positions left unread (`decode.coverage_penalty`)."""

from __future__ import annotations

from .ops import Array, ArrayOps

# log(0) of a never-read position would make every hypothesis -inf: a total weight is floored here.
FLOOR = 1e-6


def coverage_penalty(coverage: Array, mask: Array, beta: float, ops: ArrayOps) -> Array:
    """beta * sum over real positions of log(min(coverage, 1)). coverage: (R, S) summed weights; mask: (R, S)
    bool, True at real positions. Returns (R,), <= 0."""
    logs = ops.log(ops.clip(coverage, FLOOR, 1.0))
    return beta * ops.where(mask, logs, 0.0).sum(-1)
