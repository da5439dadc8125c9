"""`translate`'s files: input lines read as bytes (only a line feed ends a line, so a stray carriage return never
shifts the output against the input), and an output opened, or refused, before any work."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from ..config import ConfigError


def read_input(path: str | None) -> tuple[str, list[bytes]]:
    """The name to report lines under (the path, or `stdin`) and the raw lines, without line ends (a CR before
    the LF is dropped); a last line without a line feed counts, a final line feed starts no line."""
    if path is None:
        name = "stdin"
        stream = sys.stdin
        # A text stream without a byte buffer (a test's StringIO) has no bytes to get wrong.
        data = stream.buffer.read() if hasattr(stream, "buffer") else stream.read().encode("utf-8", "surrogatepass")
    else:
        name = path
        source = Path(path)
        if source.is_dir():
            raise ConfigError(f"--input {path}: is a directory, not a file of input lines")
        try:
            data = source.read_bytes()
        except OSError as e:
            raise ConfigError(f"--input {path}: cannot read it ({e.strerror or e})") from None
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return name, [line.removesuffix(b"\r") for line in lines]


def open_output(path: str | None) -> TextIO:
    """stdout, or the file at `path` opened for writing; ConfigError naming the path when it cannot be."""
    if path is None:
        return sys.stdout
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"--output {path}: is a directory; give a file path")
    try:
        return open(target, "w", encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"--output {path}: cannot write it ({e.strerror or e})") from None


def one_line(text: str) -> str:
    """`text` as a single output line: line breaks a model may emit (a CR, a LF) become spaces."""
    return text.replace("\r", " ").replace("\n", " ")
