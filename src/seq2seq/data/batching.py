"""Padded batches, and length-bucketed, seeded batch orders."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from .sides import Side

if TYPE_CHECKING:
    import torch


@dataclass
class Batch:
    """Padded tensors of one batch; `indices` are the examples' positions in the dataset.

    Token sides give (B, L) ids, feature sides (B, L, D) vectors (see `sides`).
    """

    src: torch.Tensor  # (B, S[, D])
    src_lengths: torch.Tensor  # (B,) long
    tgt_in: torch.Tensor  # (B, T[, D]) what the decoder reads: <s> first (or the start vector's slot)
    tgt_out: torch.Tensor  # (B, T[, D]) what it should write: ends with </s> (vectors: NaN at padding)
    tgt_lengths: torch.Tensor  # (B,) real tgt_out steps
    indices: list[int]

    def __len__(self) -> int:
        return len(self.indices)

    def to(self, device: torch.device | str) -> Batch:
        """The same batch on device."""
        return Batch(self.src.to(device), self.src_lengths.to(device), self.tgt_in.to(device),
                     self.tgt_out.to(device), self.tgt_lengths.to(device), self.indices)


def collate(examples: Sequence[tuple[Any, Any]], source: Side, target: Side,
            indices: Sequence[int] | None = None) -> Batch:
    """Pad encoded (source, target) pairs into a Batch, each side as it pads itself."""
    src, src_lengths = source.pad([s for s, _ in examples])
    tgt_in, tgt_out, tgt_lengths = target.pad_target([t for _, t in examples])
    return Batch(src, src_lengths, tgt_in, tgt_out, tgt_lengths,
                 list(range(len(examples))) if indices is None else np.asarray(indices).tolist())


# Seeds are folded into 64 bits: numpy's generators take non-negative integers, the config any integer.
_SEED_MASK = 2**64 - 1


@dataclass(frozen=True)
class BatchPlan:
    """An epoch's batches as index arrays: batch k is `order[starts[k]:ends[k]]`.

    A few bytes per example (the `order` array) instead of a Python int in a list each, so that a corpus of
    millions of pairs is batched without holding millions of objects; iteration gives numpy index arrays.
    """

    order: np.ndarray  # (N,) example indices, each batch a contiguous run
    starts: np.ndarray  # (B,) int64, in batch order
    ends: np.ndarray  # (B,) int64

    def __len__(self) -> int:
        return len(self.starts)

    @overload
    def __getitem__(self, k: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, k: slice) -> list[np.ndarray]: ...

    def __getitem__(self, k: int | slice) -> np.ndarray | list[np.ndarray]:
        if isinstance(k, slice):
            return [self.order[a:b] for a, b in zip(self.starts[k].tolist(), self.ends[k].tolist())]
        return self.order[int(self.starts[k]):int(self.ends[k])]

    def __iter__(self) -> Iterator[np.ndarray]:
        for a, b in zip(self.starts.tolist(), self.ends.tolist()):
            yield self.order[a:b]

    def at_least(self, size: int) -> BatchPlan:
        """The plan without the batches of fewer than `size` examples."""
        keep = (self.ends - self.starts) >= size
        return BatchPlan(self.order, self.starts[keep], self.ends[keep])

    def tolist(self) -> list[list[int]]:
        """Every batch as a list of ints (small plans: tests, inspection)."""
        return [batch.tolist() for batch in self]


def _cut_tokens(size: np.ndarray, start: int, end: int, budget: int, starts: list[int], ends: list[int]) -> None:
    """Greedy token batches over `size[start:end]` (sizes in batch order): a batch grows while (examples x
    longest) stays within `budget`; an example over the budget gets a batch of its own."""
    pos = start
    while pos < end:
        window = min(end - pos, budget)  # every example counts at least 1, so no batch holds more
        longest = np.maximum.accumulate(np.maximum(size[pos:pos + window], 1))
        over = np.flatnonzero(longest * np.arange(1, window + 1) > budget)
        take = max(int(over[0]) if len(over) else window, 1)
        starts.append(pos)
        ends.append(pos + take)
        pos += take


def make_batches(src_lengths: Sequence[int] | np.ndarray, tgt_lengths: Sequence[int] | np.ndarray, batch_size: int,
                 by: str = "sentences", bucket: bool = True, shuffle: bool = True, seed: int = 0, epoch: int = 0,
                 pool_factor: int = 50) -> BatchPlan:
    """Dataset indices grouped into batches, the same for the same (seed, epoch).

    `by="sentences"`: at most batch_size examples; `by="tokens"`: (examples x longest side) <= batch_size,
    except that one over-long example forms a batch alone. With `bucket`, pools of about pool_factor
    batches are sorted by length before cutting, so batches hold similar lengths and little padding.
    Works on numpy arrays throughout (lengths may be memory-mapped).
    """
    if by not in ("sentences", "tokens"):
        raise ValueError(f"unknown batch unit {by!r}; allowed: sentences, tokens")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    src, tgt = np.asarray(src_lengths), np.asarray(tgt_lengths)
    if src.shape != tgt.shape:
        raise ValueError(f"{len(src)} source lengths but {len(tgt)} target lengths")
    n = len(src)
    rng = np.random.Generator(np.random.PCG64([seed & _SEED_MASK, epoch]))
    order = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)
    if shuffle:
        rng.shuffle(order)
    pools = [(0, n)]
    if bucket and n:
        total = int(np.maximum(src, tgt).sum(dtype=np.int64)) if by == "tokens" else 0
        per_batch = batch_size if by == "sentences" else max(1, batch_size * n // max(1, total))
        pool = pool_factor * per_batch
        pools = [(a, min(a + pool, n)) for a in range(0, n, pool)]
        for a, b in pools:
            chunk = order[a:b]
            # Target length first: the decoder (step loop, attention, output layer) does most of the
            # work and pays for every padded target step; the packed encoder skips source padding.
            order[a:b] = chunk[np.lexsort((src[chunk], tgt[chunk]))]
    if by == "sentences":
        cuts = [np.arange(a, b, batch_size, dtype=np.int64) for a, b in pools if b > a]
        starts = np.concatenate(cuts) if cuts else np.zeros(0, np.int64)
        ends = np.concatenate([np.minimum(c + batch_size, b) for c, (_, b) in zip(cuts, pools)]) if cuts \
            else np.zeros(0, np.int64)
    else:
        # Sizes in batch order, 4 bytes a pair (lengths stay far below 2**31).
        in_order = np.maximum(src[order], tgt[order]).astype(np.int32)
        first: list[int] = []
        last: list[int] = []
        for a, b in pools:
            _cut_tokens(in_order, a, b, batch_size, first, last)
        starts, ends = np.array(first, dtype=np.int64), np.array(last, dtype=np.int64)
    if shuffle:
        perm = rng.permutation(len(starts))
        starts, ends = starts[perm], ends[perm]
    return BatchPlan(order, starts, ends.astype(np.int64))


def sort_for_inference(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices batched longest first; put outputs back in order with each Batch's `indices`."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
