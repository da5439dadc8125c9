"""A split of a preprocessed data directory read memory-mapped: token ids in flat per-shard arrays with offsets,
lengths in one array per side, so that batching reads lengths alone and a batch touches only its own pairs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Config, ConfigError
from .manifest import check_settings, read_manifest
from .reversal import InputReversal
from .sides import SIDES, FeatureSide, Side
from .text_blob import MappedTexts

Pair = tuple[Any, Any]


class MappedPairs:
    """The pairs of one split (`train`, `valid`, `test`) of a preprocessed directory, memory-mapped; `take`
    returns them as the text path's encoded pairs are (lists of ids, the source in the encoder's order)."""

    def __init__(self, directory: str | Path, split: str, entry: dict[str, Any],
                 reversal: InputReversal | None = None, features: tuple[Any, Any] = (None, None)) -> None:
        folder = Path(directory) / split
        self.directory = Path(directory)
        self.reversal = reversal or InputReversal()
        # A feature side's FeatureSide (its frames are normalised and reversed as the text path encodes them when a
        # batch is taken); None for a token side.
        self.features = features
        self.corpora: list[dict[str, Any]] = list(entry.get("corpora", []))  # name, first, pairs: contiguous runs
        self.source_lengths = np.load(folder / "source.lengths.npy", mmap_mode="r")
        self.target_lengths = np.load(folder / "target.lengths.npy", mmap_mode="r")
        sizes = [int(n) for n in entry["shards"]]
        self.starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        if len(self.source_lengths) != self.starts[-1] or len(self.target_lengths) != self.starts[-1]:
            raise ValueError(f"{folder}: the lengths files hold {len(self.source_lengths)} and "
                             f"{len(self.target_lengths)} pairs, the manifest {int(self.starts[-1])}")
        self.shards = []
        for index, size in enumerate(sizes):
            arrays = tuple(np.load(folder / f"{index:05d}.{name}", mmap_mode="r")
                           for name in ("source.npy", "source.offsets.npy", "target.npy", "target.offsets.npy"))
            if len(arrays[1]) != size + 1 or len(arrays[3]) != size + 1:
                raise ValueError(f"{folder}: shard {index:05d} does not hold the {size} pairs the manifest says")
            self.shards.append(arrays)
        # The raw reference lines (valid/test of a directory of format 2 and later), None where not kept.
        self.texts: list[MappedTexts] | None = None
        if entry.get("references"):
            self.texts = [MappedTexts(folder / f"{index:05d}.references") for index in range(len(sizes))]
            if any(len(t) != size for t, size in zip(self.texts, sizes)):
                raise ValueError(f"{folder}: the references do not hold the pairs the manifest says")

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, i: int) -> Pair:
        return self.take([i])[0]

    def take(self, indices: Sequence[int] | np.ndarray) -> list[Pair]:
        """The pairs at `indices` as ([source ids], [target ids]), the source reversed when the side is."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"pair index out of range 0..{len(self) - 1}")
        shard = np.searchsorted(self.starts, idx, side="right") - 1
        pairs = []
        for i, s in zip((idx - self.starts[shard]).tolist(), shard.tolist()):
            src, src_offsets, tgt, tgt_offsets = self.shards[s]
            source, target = src[src_offsets[i]:src_offsets[i + 1]], tgt[tgt_offsets[i]:tgt_offsets[i + 1]]
            pairs.append((self.features[0].encode(source) if self.features[0] else self.reversal.apply(source.tolist()),
                          self.features[1].encode(target) if self.features[1] else target.tolist()))
        return pairs

    def references(self, indices: Sequence[int] | np.ndarray) -> list[str] | None:
        """The raw target lines of the pairs at `indices`, as the data file held them; None when the directory
        keeps none (made before they were kept, or the training split)."""
        if self.texts is None:
            return None
        idx = np.asarray(indices, dtype=np.int64)
        shard = np.searchsorted(self.starts, idx, side="right") - 1
        return [self.texts[s].take([i])[0] for i, s in zip((idx - self.starts[shard]).tolist(), shard.tolist())]


def _side(cfg: Config, directory: Path, name: str, reversal: InputReversal) -> Side:
    """A side as the directory saved it; a feature side's statistics are used when model.feature_norm says so."""
    kind = getattr(cfg.data, f"{name}_type")
    side = SIDES[kind].load(directory, name, reversal)
    if isinstance(side, FeatureSide) and not cfg.model.feature_norm:
        return FeatureSide(side.dim, reversal=reversal)
    return side


def open_preprocessed(cfg: Config, directory: str | Path) -> tuple[Side, Side, dict[str, MappedPairs]]:
    """The sides a preprocessed directory was encoded with and its splits, once the run's data settings are checked
    against the ones it was made with."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    check_settings(cfg, manifest, directory)
    if cfg.model.copy:
        raise ConfigError("model.copy needs each source's words, which a preprocessed directory does not keep; "
                          "train a copy model from the text files (--train/--valid)")
    reversal = InputReversal(cfg.data.reverse_source)
    try:
        source = _side(cfg, directory, "source", reversal)
        target = _side(cfg, directory, "target", InputReversal())
        features = tuple(side if isinstance(side, FeatureSide) else None for side in (source, target))
        splits = {split: MappedPairs(directory, split, entry, reversal, features)
                  for split, entry in manifest["splits"].items()}
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError(f"{directory}: damaged preprocessed directory ({e}); preprocess it again") from None
    return source, target, splits
