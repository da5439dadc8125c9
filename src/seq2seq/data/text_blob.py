"""Lines of text stored as one UTF-8 byte array and its offsets (two `.npy` files), read memory-mapped: how a
preprocessed directory keeps the raw reference lines of its validation and test splits."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def text_arrays(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """`texts` as their UTF-8 bytes one after the other (uint8) and offsets (int64, len(texts) + 1): what
    `PREFIX.npy` and `PREFIX.offsets.npy` hold."""
    encoded = [t.encode("utf-8") for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


class MappedTexts:
    """The texts of `text_arrays` saved at PREFIX, memory-mapped; `take` decodes only the lines asked for."""

    def __init__(self, prefix: Path) -> None:
        self.blob = np.load(prefix.with_name(prefix.name + ".npy"), mmap_mode="r")
        self.offsets = np.load(prefix.with_name(prefix.name + ".offsets.npy"), mmap_mode="r")
        if self.offsets.ndim != 1 or not len(self.offsets) or int(self.offsets[-1]) != len(self.blob):
            raise ValueError(f"{prefix}.offsets.npy does not match {prefix}.npy")

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def take(self, indices: Sequence[int] | np.ndarray) -> list[str]:
        """The texts at `indices`, in that order."""
        offsets = self.offsets
        return [bytes(self.blob[offsets[i]:offsets[i + 1]]).decode("utf-8") for i in np.asarray(indices).tolist()]
