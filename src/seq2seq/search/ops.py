"""The array interface the searches are written over, and its numpy implementation.

A search reads and writes arrays through the operators torch tensors and numpy arrays share (`+`, `/`, `**`,
`&`, `|`, `~`, `==`, `>=`, boolean-mask indexing, `reshape`, `sum`, `all`, `any`, `tolist`) and, for the rest,
through an `ArrayOps` object of its engine: `NumpyOps` here, `TorchOps` in `decoding.ops`. The few operations
whose results the engines must keep bit for bit as they were (top-k with its tie order, sampling draws) are the
backend's own.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

Array = Any  # a torch tensor or a numpy array


class ArrayOps(Protocol):
    """What a search needs of an array library beyond the operators torch and numpy share."""

    def full(self, shape: tuple[int, ...], value: float, dtype: str) -> Array:
        """A new array of `shape` filled with `value`; dtype "float" (float32), "long" (int64) or "bool"."""

    def arange(self, n: int) -> Array:
        """0 .. n - 1 (int64)."""

    def repeat(self, x: Array, k: int) -> Array:
        """Each row k times in a row: [a, b] -> [a, a, b, b]."""

    def take(self, x: Array, rows: Array) -> Array:
        """Rows `rows` of `x` (along the first axis)."""

    def put(self, base: Array, rows: Array, values: Array) -> Array:
        """`base` with its rows `rows` replaced by `values` (base may be changed in place)."""

    def add_to(self, acc: Array, rows: Array, values: Array) -> None:
        """acc[rows] += values, in place (rows distinct)."""

    def cat(self, xs: list[Array], axis: int) -> Array:
        """Arrays joined along `axis`."""

    def stack(self, xs: list[Array], axis: int) -> Array:
        """Arrays stacked on a new `axis`."""

    def where(self, cond: Array, a: Array | float, b: Array | float) -> Array:
        """a where cond, else b (cond broadcast against them)."""

    def nonzero(self, mask: Array) -> Array:
        """The indices (int64) where a 1-D bool array is True."""

    def top(self, x: Array, k: int) -> tuple[Array, Array]:
        """The k largest values of each row and their column indices, largest first."""

    def order(self, x: Array) -> Array:
        """Each row's column indices, largest value first."""

    def row_max(self, x: Array) -> Array:
        """Each row's largest value."""

    def as_float(self, x: Array) -> Array:
        """x as float32."""

    def as_long(self, x: Array) -> Array:
        """x as int64 (floats truncated towards zero)."""

    def clip(self, x: Array, low: float, high: float) -> Array:
        """x limited to [low, high]."""

    def log(self, x: Array) -> Array:
        """Natural logarithm, element-wise."""

    def log_softmax(self, x: Array) -> Array:
        """log softmax over the last axis, in float32."""

    def copy(self, x: Array) -> Array:
        """A copy that owns its memory."""

    def fill_rows(self, x: Array, rows: Array, value: float) -> None:
        """x[rows] = value in place, rows a (R,) bool mask of a (R, C) array."""

    def pick(self, x: Array, cols: Array) -> Array:
        """Each row's value at its column: x[i, cols[i]]."""

    def filter_logits(self, logits: Array, top_k: int, top_p: float) -> Array:
        """Logits with all but the top-k tokens and the top_p nucleus masked to -inf (sampling)."""

    def draw(self, logits: Array, rng: Any) -> Array:
        """One token per row drawn from softmax(logits) with the engine's random generator `rng`."""


class NumpyOps:
    """`ArrayOps` over numpy arrays (the ONNX engine)."""

    _DTYPES = {"float": np.float32, "long": np.int64, "bool": np.bool_}

    def full(self, shape: tuple[int, ...], value: float, dtype: str) -> np.ndarray:
        """A new array of `shape` filled with `value`."""
        return np.full(shape, value, dtype=self._DTYPES[dtype])

    def arange(self, n: int) -> np.ndarray:
        """0 .. n - 1."""
        return np.arange(n)

    def repeat(self, x: np.ndarray, k: int) -> np.ndarray:
        """Each row k times in a row."""
        return np.repeat(x, k, axis=0)

    def take(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Rows `rows` of `x`."""
        return x[rows]

    def put(self, base: np.ndarray, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """`base` with its rows `rows` replaced, in place."""
        base[rows] = values
        return base

    def add_to(self, acc: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
        """acc[rows] += values."""
        acc[rows] += values

    def cat(self, xs: list[np.ndarray], axis: int) -> np.ndarray:
        """Arrays joined along `axis`."""
        return np.concatenate(xs, axis)

    def stack(self, xs: list[np.ndarray], axis: int) -> np.ndarray:
        """Arrays stacked on a new `axis`."""
        return np.stack(xs, axis)

    def where(self, cond: np.ndarray, a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
        """a where cond, else b; float32 stays float32 against a Python float."""
        out = np.where(cond, a, b)
        like = a if isinstance(a, np.ndarray) else b
        return out.astype(like.dtype, copy=False) if isinstance(like, np.ndarray) else out

    def nonzero(self, mask: np.ndarray) -> np.ndarray:
        """Indices where `mask` is True."""
        return np.flatnonzero(mask)

    def top(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k largest per row, ties in column order (a stable sort)."""
        idx = np.argsort(-x, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(x, idx, 1), idx

    def order(self, x: np.ndarray) -> np.ndarray:
        """Columns by descending value, ties in column order."""
        return np.argsort(-x, axis=1, kind="stable")

    def row_max(self, x: np.ndarray) -> np.ndarray:
        """Each row's largest value."""
        return x.max(1)

    def as_float(self, x: np.ndarray) -> np.ndarray:
        """x as float32."""
        return x.astype(np.float32)

    def as_long(self, x: np.ndarray) -> np.ndarray:
        """x as int64."""
        return x.astype(np.int64)

    def clip(self, x: np.ndarray, low: float, high: float) -> np.ndarray:
        """x limited to [low, high]."""
        return np.clip(x, low, high)

    def log(self, x: np.ndarray) -> np.ndarray:
        """Natural logarithm."""
        return np.log(x)

    def log_softmax(self, x: np.ndarray) -> np.ndarray:
        """log softmax over the last axis."""
        x = x.astype(np.float32)
        shifted = x - x.max(-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))

    def copy(self, x: np.ndarray) -> np.ndarray:
        """A copy."""
        return x.copy()

    def fill_rows(self, x: np.ndarray, rows: np.ndarray, value: float) -> None:
        """x[rows] = value."""
        x[rows] = value

    def pick(self, x: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """x[i, cols[i]] of each row."""
        return x[np.arange(len(cols)), cols]

    def filter_logits(self, logits: np.ndarray, top_k: int, top_p: float) -> np.ndarray:
        """See `filter_logits`."""
        return filter_logits(logits, top_k, top_p)

    def draw(self, logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Inverse-CDF draws: one uniform number per row against the cumulative softmax (float64)."""
        cumulative = np.cumsum(_softmax(logits.astype(np.float64)), -1)
        drawn = rng.random(len(logits))[:, None] * cumulative[:, -1:]
        return np.minimum((cumulative <= drawn).sum(-1), logits.shape[-1] - 1)


def filter_logits(logits: np.ndarray, top_k: int, top_p: float) -> np.ndarray:
    """Mask all but the top-k tokens (Fan et al. 2018) and the smallest set holding top_p of the mass (nucleus
    sampling, Holtzman et al. 2020), as `decoding.ops.filter_logits` does in torch. (N, V) -> (N, V)"""
    if top_k > 0:
        k = min(top_k, logits.shape[-1])
        kth = np.partition(logits, -k, axis=-1)[:, -k:].min(-1, keepdims=True)
        logits = np.where(logits < kth, -np.inf, logits)
    if top_p < 1.0:
        order = np.argsort(-logits, axis=-1, kind="stable")
        probs = _softmax(np.take_along_axis(logits, order, -1))
        drop = (np.cumsum(probs, -1) - probs) >= top_p
        mask = np.empty_like(drop)
        np.put_along_axis(mask, order, drop, -1)
        logits = np.where(mask, -np.inf, logits)
    return logits


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)
