"""The data side of copy attention (`model.copy`, see `models.pointer`): an extended target vocabulary per
sentence, so that source words the target vocabulary lacks can be copied into the output verbatim.

Target ids 0..V-1 are the target vocabulary; id V + i stands for the word at source position i (in the
order the encoder reads, so after input reversal), used for a source word outside the target
vocabulary at the first position it occurs at. The source side (`CopySourceSide`) encodes each sentence
into a `CopySource`: its source ids, its words and their target ids. Training targets name a copyable
unknown word by its extended id instead of <unk> (`encode_pair`), and generated extended ids become the
words again (`resolve`), which the target side writes out as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .sides import Side, TokenSide, _tensors
from .vocab import PAD, UNK, Vocab

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class CopySource:
    """One encoded source of a copy model, in the encoder's order. ids: source vocabulary ids; words: the
    tokens; known: each word's target vocabulary id, None where the target vocabulary lacks it; vocab_size:
    the target vocabulary's size V."""

    ids: tuple[int, ...]
    words: tuple[str, ...]
    known: tuple[int | None, ...]
    vocab_size: int

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, steps: slice) -> CopySource:
        """Some of the positions (truncation to data.max_source_length); extended ids follow the new positions."""
        return CopySource(self.ids[steps], self.words[steps], self.known[steps], self.vocab_size)

    @property
    def extended(self) -> list[int]:
        """Each position's extended target id: the word's target id, or V + the first position it occurs at."""
        first: dict[str, int] = {}
        return [self.vocab_size + first.setdefault(word, i) if known is None else known
                for i, (word, known) in enumerate(zip(self.words, self.known))]

    def copied(self, word: str) -> int | None:
        """The extended id a target word outside the target vocabulary gets if the source holds it, else None."""
        return self.vocab_size + self.words.index(word) if word in self.words else None


@dataclass
class CopySourceSide(TokenSide):
    """A token source side for a copy model: encodes sources into CopySource and pads them into (B, S, 2)
    batches (each source id beside its extended target id); saved and loaded as a plain token side.

    target_vocab: the target side's vocabulary, whose ids (and size V) the extended ids continue.
    """

    target_vocab: Vocab = field(kw_only=True)

    @classmethod
    def around(cls, side: TokenSide, target_vocab: Vocab) -> CopySourceSide:
        """The copy side of a fitted or loaded token side."""
        return cls(side.tokenizer, side.vocab, side.reversal, target_vocab=target_vocab)

    def encode(self, raw: str) -> CopySource:  # type: ignore[override]
        """A text -> its CopySource (reversed when the side is reversed)."""
        words = tuple(self.reversal.apply(self.tokenizer.tokenize(raw)))
        known = tuple(self.target_vocab.encode([w])[0] if w in self.target_vocab else None for w in words)
        return CopySource(tuple(self.vocab.encode(words)), words, known, len(self.target_vocab))

    def decode(self, encoded: CopySource) -> str:  # type: ignore[override]
        """The source text of an encoded source."""
        return super().decode(list(encoded.ids))

    def pad_arrays(self, rows: Sequence[CopySource]) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[override]
        """(B, S, 2) ids: source ids and extended target ids, <pad> (0) past each end; lengths (B,)."""
        lengths = [max(len(r), 1) for r in rows]
        batch = np.full((len(rows), max(lengths), 2), PAD, dtype=np.int64)
        for b, row in enumerate(rows):
            if len(row):
                batch[b, : len(row)] = np.array([row.ids, row.extended], dtype=np.int64).T
        return batch, np.array(lengths, dtype=np.int64)

    def pad(self, rows: Sequence[CopySource]) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        """`pad_arrays` as torch tensors."""
        return _tensors(*self.pad_arrays(rows))

    def encode_target(self, target: TokenSide, raw: str, source: CopySource) -> list[int]:
        """A target text -> ids in the sentence's extended vocabulary: words outside the target vocabulary
        that the source holds get their extended id, other unknown words <unk>."""
        ids = []
        for word in target.tokenizer.tokenize(raw):
            copied = None if word in target.vocab else source.copied(word)
            ids.append(target.vocab.encode([word])[0] if copied is None else copied)
        return ids

    @staticmethod
    def resolve(output: Sequence[int], source: CopySource) -> list[int | str]:
        """Generated ids -> target ids, with each extended id replaced by the source word it stands for."""
        v, words = source.vocab_size, source.words
        return [i if i < v else words[i - v] if i - v < len(words) else UNK for i in output]


def encode_pair(source: Side, target: Side, raw_source: Any, raw_target: Any) -> tuple[Any, Any]:
    """A raw pair as the model trains on it (copy models: the target in the sentence's extended vocabulary)."""
    encoded = source.encode(raw_source)
    if isinstance(source, CopySourceSide):
        return encoded, source.encode_target(target, raw_target, encoded)
    return encoded, target.encode(raw_target)


def resolve(source: Side, output: Any, encoded_source: Any) -> Any:
    """A generated (or encoded target) output with copied words in place of extended ids (copy models only)."""
    return CopySourceSide.resolve(output, encoded_source) if isinstance(source, CopySourceSide) else output
