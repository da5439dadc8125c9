"""A corpus read as numbered chunks of raw lines, never whole: what `seq2seq preprocess` hands its workers.

The lines are the ones `datasets.read_lines` gives (a UTF-8 byte-order mark dropped, trailing blank lines left
out, only a line feed ending a line), so a chunked corpus parses to the same pairs, line numbers included.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO

from .datasets import DataError, unreadable

_BLOCK = 1 << 24


@dataclass(frozen=True)
class Chunk:
    """Lines `first_line`.. of one file (or of two aligned files, format `pair`), each ending in a line feed."""

    index: int
    first_line: int
    lines: tuple[bytes, ...]  # one joined block of lines per file

    @property
    def count(self) -> int:
        """The number of lines."""
        return self.lines[0].count(b"\n")


def _open(path: Path) -> IO[bytes]:
    try:
        return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    except OSError as e:
        raise unreadable(path, e) from None


def line_count(path: Path) -> int:
    """The number of the file's last line that is not blank (0 for a file of blank lines), read in blocks."""
    lines_before, last = 0, 0
    try:
        with _open(path) as f:
            while block := f.read(_BLOCK):
                end = len(block.rstrip())
                if end:
                    last = lines_before + block.count(b"\n", 0, end) + 1
                lines_before += block.count(b"\n")
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(path, None, f"cannot read file: {e}") from None
    return last


def read_chunks(paths: tuple[Path, ...], lines: int, chunk_lines: int) -> Iterator[Chunk]:
    """The first `lines` lines of each file (all the same count) in chunks of `chunk_lines`, in order."""
    with ExitStack() as stack:
        handles = [stack.enter_context(_open(p)) for p in paths]
        first, index = 1, 0
        while first <= lines:
            want = min(chunk_lines, lines - first + 1)
            blocks = []
            for path, handle in zip(paths, handles):
                try:
                    got = list(islice(handle, want))
                except (OSError, EOFError, zlib.error) as e:
                    raise DataError(path, first, f"cannot read file: {e}") from None
                if first == 1 and got:
                    got[0] = got[0].removeprefix(b"\xef\xbb\xbf")
                if got and not got[-1].endswith(b"\n"):
                    got[-1] += b"\n"
                blocks.append(b"".join(got))
            yield Chunk(index, first, tuple(blocks))
            first += want
            index += 1


def chunk_lines(chunk: Chunk, part: int = 0) -> list[bytes]:
    """A chunk's lines of file `part`, without line ends (a carriage return before the line feed dropped)."""
    return [line.removesuffix(b"\r") for line in chunk.lines[part].split(b"\n")[:-1]]
