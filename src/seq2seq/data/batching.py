"""Padded batches, and length-bucketed, seeded batch orders."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
                 list(range(len(examples))) if indices is None else list(indices))


def _cut(order: list[int], size: list[int], batch_size: int, by: str) -> list[list[int]]:
    if by == "sentences":
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        # An example longer than the budget still gets a batch of its own rather than being dropped.
        if current and max(longest, size[i]) * (len(current) + 1) > batch_size:
            batches.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, size[i])
    return batches + [current] if current else batches


def make_batches(src_lengths: Sequence[int], tgt_lengths: Sequence[int], batch_size: int, by: str = "sentences",
                 bucket: bool = True, shuffle: bool = True, seed: int = 0, epoch: int = 0,
                 pool_factor: int = 50) -> list[list[int]]:
    """Dataset indices grouped into batches, the same for the same (seed, epoch).

    `by="sentences"`: at most batch_size examples; `by="tokens"`: (examples x longest side) <= batch_size,
    except that one over-long example forms a batch alone. With `bucket`, pools of about pool_factor
    batches are sorted by length before cutting, so batches hold similar lengths and little padding.
    """
    if by not in ("sentences", "tokens"):
        raise ValueError(f"unknown batch unit {by!r}; allowed: sentences, tokens")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    rng = random.Random(seed * 1_000_003 + epoch)
    size = [max(s, t) for s, t in zip(src_lengths, tgt_lengths, strict=True)]
    order = list(range(len(size)))
    if shuffle:
        rng.shuffle(order)
    if not bucket:
        batches = _cut(order, size, batch_size, by)
    else:
        per_batch = batch_size if by == "sentences" else max(1, batch_size * len(size) // max(1, sum(size)))
        pool = pool_factor * per_batch
        batches = []
        for start in range(0, len(order), pool):
            # Target length first: the decoder (step loop, attention, output layer) does most of the
            # work and pays for every padded target step; the packed encoder skips source padding.
            chunk = sorted(order[start:start + pool], key=lambda i: (tgt_lengths[i], src_lengths[i]))
            batches += _cut(chunk, size, batch_size, by)
    if shuffle:
        rng.shuffle(batches)
    return batches


def sort_for_inference(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices batched longest first; put outputs back in order with each Batch's `indices`."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
