"""The two kinds of sequence side: tokens (text through a tokenizer and a vocabulary) and features (real
vectors through per-dimension normalisation), behind one small interface.

Everything that differs between text and real-valued vectors in data handling lives here: how a raw
value becomes what the model reads (`encode`), how model output becomes a raw value again (`decode`),
how a batch is padded (`pad`, `pad_target`), what labels a step (`labels`), how a line of `translate`
input is read (`parse`) and an output written (`format`), and how the side is saved beside the model.
`SIDES` maps `data.source_type` / `data.target_type` to the class.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
from safetensors.numpy import load_file, save_file

from .feature_files import check_sequence, format_sequence, parse_sequence
from .feature_stats import FeatureStats
from .reversal import InputReversal
from .tokenizers import Tokenizer, load_tokenizer, save_tokenizer
from .vocab import BOS, EOS, PAD, Vocab

if TYPE_CHECKING:
    import torch


class Side(Protocol):
    """One side (source or target) of a corpus, as the model sees it."""

    kind: ClassVar[str]
    reversal: InputReversal

    @property
    def size(self) -> int:
        """The width of the model's input/output layer for this side."""

    def encode(self, raw: Any) -> Any:
        """A raw value (text; a (L, D) array or CSV notation) -> what the model reads."""

    def decode(self, encoded: Any) -> Any:
        """Model output -> a raw value (text; an (L, D) array in the original units)."""

    def labels(self, raw: Any) -> list[str]:
        """One label per step of a raw value in reading order (attention map axes)."""

    def output_labels(self, encoded: Any) -> list[str]:
        """One label per generated step (attention map rows)."""

    def parse(self, line: str) -> Any:
        """A line of `translate` input -> a raw value."""

    def format(self, raw: Any, tokenized: bool = False) -> str:
        """A raw value -> one line of output (text for people unless `tokenized` keeps a word tokenizer's
        spaced tokens)."""

    def show(self, raw: Any) -> str:
        """A raw value for a person reading a predictions file (long vector sequences summarised)."""

    def pad_arrays(self, rows: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Encoded sources -> a padded batch (B, S[, D]) and lengths (B,) (an empty row counts 1), as numpy."""

    def pad(self, rows: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """`pad_arrays` as torch tensors."""

    def pad_target(self, rows: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encoded targets -> decoder inputs, gold outputs (B, T[, D]) and real steps (B,)."""

    def steps(self, encoded: Any) -> int:
        """How many output steps the model is trained on for an encoded target."""

    def save(self, directory: Path, name: str) -> None:
        """Write what is needed to rebuild the side into `directory` (JSON, safetensors)."""


def _lengths(rows: Sequence[Sequence[int]]) -> np.ndarray:
    return np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))


def _pad_ids(rows: Sequence[Sequence[int]], width: int, lengths: np.ndarray | None = None,
             offset: int = 0) -> np.ndarray:
    """(B, width) <pad> with row i's ids at columns [offset, offset + its length): one vectorised fill from the
    rows' ids laid end to end, rather than a padded Python list per row (a training step pads every batch)."""
    lengths = _lengths(rows) if lengths is None else lengths
    out = np.full((len(rows), width), PAD, dtype=np.int64)
    total = int(lengths.sum())
    if total:
        cols = np.arange(width)
        # A boolean mask fills in row-major order: each row's ids go to its own columns, in order.
        out[(cols >= offset) & (cols < offset + lengths[:, None])] = np.fromiter(
            itertools.chain.from_iterable(rows), dtype=np.int64, count=total)
    return out


def _tensors(*arrays: np.ndarray) -> tuple[torch.Tensor, ...]:
    """numpy batches -> torch tensors (sharing memory). torch is imported here, not with the module, so that the
    sides' text handling works without it (the ONNX engine pads with `pad_arrays`)."""
    import torch

    return tuple(torch.from_numpy(a) for a in arrays)


@dataclass
class TokenSide:
    """Text <-> ids through a tokenizer and a vocabulary; targets are framed by <s> and </s>."""

    tokenizer: Tokenizer
    vocab: Vocab
    reversal: InputReversal = field(default_factory=InputReversal)
    kind: ClassVar[str] = "tokens"

    @property
    def size(self) -> int:
        """The vocabulary size (embedding rows, output classes)."""
        return len(self.vocab)

    def labels(self, raw: str) -> list[str]:
        """Tokens in reading order."""
        return self.tokenizer.tokenize(raw)

    def encode(self, raw: str) -> list[int]:
        """Ids as the model sees them (reversed when the side is reversed)."""
        return self.reversal.apply(self.vocab.encode(self.tokenizer.tokenize(raw)))

    def decode(self, encoded: Sequence[int]) -> str:
        """Text from ids (stops at </s>, drops specials)."""
        return self.tokenizer.detokenize(self.vocab.decode(encoded))

    def output_labels(self, encoded: Sequence[int]) -> list[str]:
        """The tokens of generated ids."""
        return self.vocab.decode(encoded)

    def parse(self, line: str) -> str:
        """A line is a text."""
        return line

    def format(self, raw: str, tokenized: bool = False) -> str:
        """A text is a line: as the tokenizer joined it if `tokenized`, else readable (`Hi, you!`, not
        `Hi , you !`)."""
        return raw if tokenized else self.tokenizer.readable(raw)

    def show(self, raw: str) -> str:
        """The text itself."""
        return raw

    def pad_arrays(self, rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """(B, S) ids padded with <pad>, and lengths (B,)."""
        real = _lengths(rows)
        lengths = np.maximum(real, 1)
        return _pad_ids(rows, int(lengths.max()), real), lengths

    def pad(self, rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """`pad_arrays` as torch tensors."""
        return _tensors(*self.pad_arrays(rows))

    def pad_target(self, rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """tgt_in = <s> + ids, tgt_out = ids + </s>, both (B, T) padded; lengths count </s>."""
        lengths = _lengths(rows)
        width = int(lengths.max()) + 1
        tgt_in = _pad_ids(rows, width, lengths, offset=1)
        tgt_in[:, 0] = BOS
        tgt_out = np.roll(tgt_in, -1, axis=1)  # the ids one column left
        tgt_out[:, -1] = PAD  # where the <s> wrapped round
        tgt_out[np.arange(len(rows)), lengths] = EOS
        return _tensors(tgt_in, tgt_out, lengths + 1)

    def steps(self, encoded: Sequence[int]) -> int:
        """The tokens and the closing </s>."""
        return len(encoded) + 1

    def save(self, directory: Path, name: str) -> None:
        """Write `<name>.vocab.json` and the tokenizer files."""
        self.vocab.save(directory / f"{name}.vocab.json")
        save_tokenizer(self.tokenizer, directory, name)

    @classmethod
    def load(cls, directory: Path, name: str, reversal: InputReversal) -> TokenSide:
        """Inverse of save."""
        return cls(load_tokenizer(directory, name), Vocab.load(directory / f"{name}.vocab.json"), reversal)


def _pad_vectors(rows: Sequence[np.ndarray], width: int, dim: int, fill: float = 0.0) -> np.ndarray:
    out = np.full((len(rows), width, dim), fill, dtype=np.float32)
    for i, row in enumerate(rows):
        out[i, : len(row)] = np.asarray(row, dtype=np.float32).reshape(len(row), dim)
    return out


@dataclass
class FeatureSide:
    """Real-valued (L, D) sequences with per-dimension normalisation fitted on the training split.

    mean/std: (D,), or None when data is used as is (model.feature_norm=false).
    """

    dim: int
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    reversal: InputReversal = field(default_factory=InputReversal)
    kind: ClassVar[str] = "features"

    @classmethod
    def fit(cls, sequences: Sequence[np.ndarray], normalise: bool, reversal: InputReversal) -> FeatureSide:
        """Statistics over every step of the training sequences (each (L, D)), accumulated one sequence at a time
        as `seq2seq preprocess` accumulates them."""
        stats = FeatureStats()
        for sequence in sequences:
            stats.add(sequence)
        if not normalise:
            return cls(int(stats.dim or 0), reversal=reversal)
        mean, std = stats.result()
        return cls(len(mean), mean, std, reversal)

    @property
    def size(self) -> int:
        """The vector dimension D."""
        return self.dim

    def encode(self, raw: Any) -> np.ndarray:
        """(L, D) or (L,) values, or CSV notation -> float32 (L, D) as the model sees it (normalised, reversed
        if set)."""
        arr = check_sequence(parse_sequence(raw) if isinstance(raw, str) else raw, self.dim)
        if self.mean is not None:
            arr = (arr - self.mean) / self.std
        return np.ascontiguousarray(self.reversal.apply(arr), dtype=np.float32)

    def decode(self, encoded: Any) -> np.ndarray:
        """Model outputs (L, D) -> the original units."""
        # A torch tensor from the PyTorch engine (told apart without importing torch), else an array.
        arr = encoded.detach().float().cpu().numpy() if hasattr(encoded, "detach") else np.asarray(encoded)
        return arr * self.std + self.mean if self.mean is not None else arr

    def labels(self, raw: Any) -> list[str]:
        """Step numbers."""
        return [str(i) for i in range(len(parse_sequence(raw) if isinstance(raw, str) else raw))]

    def output_labels(self, encoded: Any) -> list[str]:
        """Step numbers."""
        return [str(i) for i in range(len(encoded))]

    def parse(self, line: str) -> np.ndarray:
        """CSV notation (`1 2 3`, `0.1 0.2; 0.3 0.4`) -> (L, D)."""
        return parse_sequence(line)

    def format(self, raw: Any, tokenized: bool = False) -> str:
        """(L, D) -> CSV notation (`tokenized` changes nothing)."""
        return format_sequence(raw)

    def show(self, raw: Any) -> str:
        """CSV notation, or `(N frames)` past 50 steps (a speech source runs to thousands of numbers)."""
        return self.format(raw) if len(raw) <= 50 else f"({len(raw)} frames)"

    def pad_arrays(self, rows: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(B, S, D) zero-padded, and lengths (B,)."""
        lengths = [max(len(r), 1) for r in rows]
        return _pad_vectors(rows, max(lengths), self.dim), np.array(lengths, dtype=np.int64)

    def pad(self, rows: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """`pad_arrays` as torch tensors."""
        return _tensors(*self.pad_arrays(rows))

    def pad_target(self, rows: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """tgt_out (B, T, D) with NaN at padded steps (the loss reads its mask from them); tgt_in: zeros at
        step 0 (where the model reads its learned start vector), then tgt_out shifted right by one step."""
        tgt_out = _pad_vectors(rows, max(len(r) for r in rows), self.dim, float("nan"))
        tgt_in = np.zeros_like(tgt_out)
        tgt_in[:, 1:] = np.nan_to_num(tgt_out[:, :-1], nan=0.0)
        return _tensors(tgt_in, tgt_out, np.array([len(r) for r in rows], dtype=np.int64))

    def steps(self, encoded: Any) -> int:
        """The vectors."""
        return len(encoded)

    def save(self, directory: Path, name: str) -> None:
        """`<name>.features.json` (dimension, whether normalised) and `<name>.features.safetensors` (mean, std)."""
        meta = {"kind": "features", "dim": self.dim, "normalised": self.mean is not None}
        (directory / f"{name}.features.json").write_text(json.dumps(meta), encoding="utf-8")
        if self.mean is not None:
            save_file({"mean": self.mean, "std": self.std}, str(directory / f"{name}.features.safetensors"))

    @classmethod
    def load(cls, directory: Path, name: str, reversal: InputReversal) -> FeatureSide:
        """Inverse of save (no pickle)."""
        path = directory / f"{name}.features.json"
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            if not meta.get("normalised"):
                return cls(int(meta["dim"]), reversal=reversal)
            stats = load_file(str(directory / f"{name}.features.safetensors"))
            return cls(int(meta["dim"]), stats["mean"], stats["std"], reversal)
        except (OSError, KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: cannot load feature statistics ({e})") from None


# `data.source_type` / `data.target_type` -> the side class: the one place the kind of a side is chosen.
SIDES: dict[str, type[TokenSide] | type[FeatureSide]] = {"tokens": TokenSide, "features": FeatureSide}
