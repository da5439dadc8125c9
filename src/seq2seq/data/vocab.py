"""Token <-> id vocabulary with fixed special ids, saved as JSON."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIALS = ("<pad>", "<unk>", "<s>", "</s>")
FORMAT_VERSION = 1


class Vocab:
    """Tokens by id; ids 0-3 are always `<pad>`, `<unk>`, `<s>`, `</s>`."""

    def __init__(self, tokens: Sequence[str]) -> None:
        tokens = list(tokens)
        if tuple(tokens[:len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with {', '.join(SPECIALS)}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("a vocabulary must not contain a token twice")
        self.tokens = tokens
        self._ids = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(cls, token_lists: Iterable[list[str]], min_freq: int = 1, max_size: int | None = None) -> Vocab:
        """Most frequent first, ties by first appearance; `max_size` counts the 4 specials too."""
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        return cls.from_counts(counts, min_freq, max_size)

    @classmethod
    def from_counts(cls, counts: Counter[str], min_freq: int = 1, max_size: int | None = None) -> Vocab:
        """`build` from token counts already made (in first-appearance order, as a Counter keeps them)."""
        counts = Counter(counts)
        for special in SPECIALS:
            counts.pop(special, None)
        # Counter keeps insertion order and sorted() is stable, so ties stay in first-appearance order.
        ranked = [t for t, c in sorted(counts.items(), key=lambda tc: -tc[1]) if c >= min_freq]
        if max_size is not None:
            ranked = ranked[:max(0, max_size - len(SPECIALS))]
        return cls(list(SPECIALS) + ranked)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._ids

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.tokens == other.tokens

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of tokens; unknown tokens get UNK."""
        return [self._ids.get(t, UNK) for t in tokens]

    def decode(self, ids: Iterable[int | str], strip_special: bool = True) -> list[str]:
        """Tokens of ids; with strip_special, stop at `</s>` and drop `<pad>`/`<s>` (`<unk>` stays). A string
        among the ids is a token already (a word a copy model copied from its source) and is kept as it is."""
        out = []
        for i in ids:
            if isinstance(i, str):
                out.append(i)
                continue
            i = int(i)
            if not 0 <= i < len(self.tokens):
                raise ValueError(f"id {i} is outside the vocabulary (size {len(self.tokens)})")
            if strip_special:
                if i == EOS:
                    break
                if i in (PAD, BOS):
                    continue
            out.append(self.tokens[i])
        return out

    def save(self, path: str | Path) -> None:
        """Write `{"tokens": [...], "version": 1}` as JSON."""
        Path(path).write_text(json.dumps({"tokens": self.tokens, "version": FORMAT_VERSION}, ensure_ascii=False)
                              + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """Read a vocabulary written by `save`; a malformed file raises ValueError naming it."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: cannot read vocabulary: {e}") from None
        if not isinstance(data, dict) or not isinstance(data.get("tokens"), list) \
                or not all(isinstance(t, str) for t in data["tokens"]):
            raise ValueError(f"{path}: not a vocabulary file: expected {{\"tokens\": [strings], \"version\": 1}}")
        version = data.get("version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ValueError(f"{path}: vocabulary format version {version!r} is newer than this seq2seq "
                             f"understands ({FORMAT_VERSION})")
        try:
            return cls(data["tokens"])
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
