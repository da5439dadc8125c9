"""Reading a text file line by line without holding it whole (pretrained vectors run to gigabytes), gzip
undone, every problem a DataError naming the file and line."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path

from .datasets import DataError


def numbered_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """(line number from 1, text without the line end) for each line of a UTF-8 file (`.gz`: gzip)."""
    path = Path(path)
    try:
        handle = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    except FileNotFoundError:
        raise DataError(path, 1, "file not found") from None
    except OSError as e:
        raise DataError(path, 1, f"cannot read file: {e.strerror or e}") from None
    number = 0
    try:
        with handle:
            for number, raw in enumerate(handle, 1):
                if number == 1:
                    raw = raw.removeprefix(b"\xef\xbb\xbf")
                try:
                    yield number, raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as e:
                    raise DataError(path, number, f"invalid UTF-8 ({e.reason} at byte {e.start}); text "
                                    f"files only (a binary word2vec file needs converting to text)") from None
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(path, max(number, 1), f"cannot read file: {e}") from None
