"""Padded batches with masks, and length-bucketed, seeded batch orders."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .vocab import BOS, EOS, PAD


@dataclass
class Batch:
    """Padded id tensors of one batch; `indices` are the examples' positions in the dataset."""

    src: torch.Tensor  # (B, S) long
    src_lengths: torch.Tensor  # (B,) long
    tgt_in: torch.Tensor  # (B, T) long, starts with <s>
    tgt_out: torch.Tensor  # (B, T) long, ends with </s>
    tgt_lengths: torch.Tensor  # (B,) real tgt_out positions, </s> included
    indices: list[int]

    @property
    def src_mask(self) -> torch.Tensor:
        """(B, S) bool, True at real source tokens."""
        return torch.arange(self.src.size(1), device=self.src.device) < self.src_lengths.unsqueeze(1)

    @property
    def tgt_mask(self) -> torch.Tensor:
        """(B, T) bool, True at real target positions."""
        return torch.arange(self.tgt_out.size(1), device=self.tgt_out.device) < self.tgt_lengths.unsqueeze(1)

    @property
    def num_tokens(self) -> int:
        """Real target tokens (</s> included): what the loss is averaged over."""
        return int(self.tgt_lengths.sum())

    def __len__(self) -> int:
        return len(self.indices)

    def to(self, device: torch.device | str) -> Batch:
        """The same batch on device."""
        return Batch(self.src.to(device), self.src_lengths.to(device), self.tgt_in.to(device),
                     self.tgt_out.to(device), self.tgt_lengths.to(device), self.indices)


def _pad(rows: Sequence[Sequence[int]], width: int) -> torch.Tensor:
    out = torch.full((len(rows), width), PAD, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def collate(examples: Sequence[tuple[Sequence[int], Sequence[int]]], indices: Sequence[int] | None = None) -> Batch:
    """Pad (source ids, target ids) pairs; the target gets <s> in front for tgt_in and </s> behind for tgt_out.

    Source ids are used as given (reversed already, if wanted); target ids come without <s>/</s>.
    """
    sources = [src for src, _ in examples]
    tgt_in = [[BOS, *tgt] for _, tgt in examples]
    tgt_out = [[*tgt, EOS] for _, tgt in examples]
    tgt_width = max(len(t) for t in tgt_out)
    return Batch(src=_pad(sources, max(len(s) for s in sources)),
                 src_lengths=torch.tensor([len(s) for s in sources], dtype=torch.long),
                 tgt_in=_pad(tgt_in, tgt_width), tgt_out=_pad(tgt_out, tgt_width),
                 tgt_lengths=torch.tensor([len(t) for t in tgt_out], dtype=torch.long),
                 indices=list(range(len(examples))) if indices is None else list(indices))


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
