"""Vocabularies read from a file (`data.source_vocab`, `data.target_vocab`), so that runs can share one:
one token per line, optionally followed by a tab (or a space) and its count, most frequent first."""

from __future__ import annotations

import logging
from pathlib import Path

from .datasets import DataError
from .lines import numbered_lines
from .vocab import SPECIALS, Vocab

log = logging.getLogger("seq2seq")


def _entry(path: Path, number: int, line: str) -> tuple[str, int | None]:
    """A line -> (token, count or None). `token<TAB>count`, `token count`, or the whole line is the token
    (so a space or a token ending in digits is written with a tab and a count)."""
    if "\t" in line:
        token, _, count = line.rpartition("\t")
    else:
        token, _, count = line.rpartition(" ")
        if not token or not count.isdigit():
            token, count = line, ""
    if not token:
        raise DataError(path, number, "empty token")
    if count == "":
        return token, None
    if not count.isdigit():
        raise DataError(path, number, f"count {count!r} is not a non-negative integer")
    return token, int(count)


def read_vocab(path: str | Path, min_freq: int = 1, max_size: int | None = None, key: str = "data.vocab") -> Vocab:
    """The vocabulary a file lists, in its order after the four specials (listed specials are skipped);
    tokens with a count below `min_freq` are dropped, and `max_size` counts the specials too."""
    path = Path(path)
    seen: dict[str, int] = {}
    tokens = []
    for number, line in numbered_lines(path):
        if not line.strip():
            raise DataError(path, number, "blank line (one token per line; a space token is written ' <TAB>count')")
        token, count = _entry(path, number, line)
        if token in SPECIALS:
            continue
        if token in seen:
            raise DataError(path, number, f"token {token!r} listed again (first on line {seen[token]})")
        seen[token] = number
        if count is None or count >= min_freq:
            tokens.append(token)
    if max_size is not None:
        tokens = tokens[:max(0, max_size - len(SPECIALS))]
    log.info("%s: %d tokens read from %s", key, len(tokens) + len(SPECIALS), path)
    return Vocab(list(SPECIALS) + tokens)
