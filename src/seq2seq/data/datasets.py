"""Reading (source, target) pairs from TSV, JSONL, the `book` files of Saito's Deep Learning from
Scratch 2 and two-file corpora, with exact errors."""

from __future__ import annotations

import gzip
import json
import statistics
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ConfigError
from .text_checks import text_problem
from .tokenizers import Tokenizer, build_tokenizer

FORMATS = ("auto", "tsv", "jsonl", "book", "pair")


class DataError(ValueError):
    """A problem in a data file; the message starts with `path:line: `, or `path: ` for the whole file."""

    def __init__(self, path: str | Path, line: int | None, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}" if line is not None else f"{path}: {reason}")
        self.path, self.line, self.reason = str(path), line, reason

    def __reduce__(self) -> tuple[type, tuple[str, int | None, str]]:
        # Rebuilt from its three parts when it crosses a process boundary (`preprocess --workers`).
        return DataError, (self.path, self.line, self.reason)


@dataclass
class ReadResult:
    """Pairs read from a corpus and the messages of lines skipped with `skip_invalid`."""

    pairs: list[tuple[str, str]]
    skipped: list[str] = field(default_factory=list)
    format: str = ""  # the format actually read, after `auto` detection


def unreadable(path: Path, error: OSError) -> DataError:
    """The DataError for a data file the OS will not open: not found, a directory, or the OS's reason."""
    if isinstance(error, FileNotFoundError):
        return DataError(path, None, "file not found")
    if isinstance(error, IsADirectoryError):
        return DataError(path, None, "is a directory, not a data file")
    return DataError(path, None, f"cannot read file: {error.strerror or error}")


def read_lines(path: Path) -> list[bytes]:
    """The file's raw lines (gzip undone), without line ends and without trailing blank lines.

    Only a line feed ends a line (a CR before it is dropped): a lone carriage return is part of its line, so
    line numbers are the ones every editor and `wc -l` show.
    """
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise unreadable(path, e) from None
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(path, None, f"not a valid gzip file: {e}") from None
    raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark is not part of the first source
    lines = [line.removesuffix(b"\r") for line in raw.split(b"\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def decode_line(path: Path, number: int, line: bytes) -> str:
    """A raw line as text; DataError naming the line for invalid UTF-8 or a NUL byte."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(path, number, f"invalid UTF-8 ({e.reason} at byte {e.start + 1})") from None
    problem = text_problem(text)
    if problem is not None:
        raise DataError(path, number, problem)
    return text


def _check(path: Path, number: int, source: str, target: str) -> tuple[str, str]:
    source, target = source.strip(), target.strip()
    if not source:
        raise DataError(path, number, "empty source" + (" and target" if not target else ""))
    if not target:
        raise DataError(path, number, "empty target")
    return source, target


def _blank(path: Path, number: int, text: str) -> None:
    """A line of spaces alone is blank; a tab or other separator makes it a pair of empty fields instead."""
    if not text.strip(" "):
        raise DataError(path, number, "blank line")


def _parse_tsv(path: Path, number: int, text: str) -> tuple[str, str]:
    _blank(path, number, text)
    columns = text.split("\t")
    if len(columns) != 2:
        raise DataError(path, number, f"expected 2 tab-separated columns (source<TAB>target), found {len(columns)}")
    return _check(path, number, columns[0], columns[1])


def _parse_jsonl(path: Path, number: int, text: str) -> tuple[str, str]:
    _blank(path, number, text)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(path, number, f"invalid JSON: {e.msg} (column {e.colno})") from None
    if not isinstance(obj, dict):
        raise DataError(path, number, f'expected a JSON object {{"source": ..., "target": ...}}, '
                                      f"got {type(obj).__name__}")
    for key in ("source", "target"):
        if key not in obj:
            raise DataError(path, number, f'missing key "{key}"')
        if not isinstance(obj[key], str):
            raise DataError(path, number, f'"{key}" must be a string, got {type(obj[key]).__name__}')
    return _check(path, number, obj["source"], obj["target"])


def _parse_book(path: Path, number: int, text: str) -> tuple[str, str]:
    _blank(path, number, text)
    question, sep, answer = text.partition("_")
    if not sep:
        raise DataError(path, number, "expected question_answer: no '_' in the line")
    return _check(path, number, question, answer)


_PARSERS = {"tsv": _parse_tsv, "jsonl": _parse_jsonl, "book": _parse_book}


def parse_line(fmt: str, path: Path, number: int, line: bytes) -> tuple[str, str]:
    """One raw line of a one-file corpus (`tsv`, `jsonl`, `book`) as a stripped pair; DataError naming the line."""
    return _PARSERS[fmt](path, number, decode_line(path, number, line))


def parse_pair_lines(src: Path, tgt: Path, number: int, s: bytes, t: bytes) -> tuple[str, str]:
    """Line `number` of a two-file corpus as a stripped pair; DataError naming the file and line at fault."""
    source, target = decode_line(src, number, s).strip(), decode_line(tgt, number, t).strip()
    if not source:
        raise DataError(src, number, "empty source")
    if not target:
        raise DataError(tgt, number, "empty target")
    return source, target


def detect_format(path: Path, lines: list[bytes]) -> str:
    """`jsonl`/`tsv` by extension (ignoring `.gz`), else by the first non-empty line: a tab -> tsv, `_` -> book."""
    suffix = Path(path.name.removesuffix(".gz")).suffix
    if suffix in (".jsonl", ".tsv"):
        return suffix[1:]
    for number, line in enumerate(lines, 1):
        if line.strip():
            if b"\t" in line:
                return "tsv"
            if b"_" in line:
                return "book"
            raise DataError(path, number, "cannot tell the format (no tab and no '_' in the first line); "
                                          "pass the format: tsv, jsonl, book or pair")
    raise DataError(path, None, "empty file: no pairs")


def _read_pair(path: Path, source_suffix: str, target_suffix: str, skip_invalid: bool) -> ReadResult:
    if source_suffix == target_suffix:
        raise ConfigError(f"format pair reads two files, PATH+source_suffix and PATH+target_suffix: give two different "
                          f"suffixes, e.g. .de and .en (data.source_suffix / data.target_suffix; got "
                          f"{source_suffix!r} and {target_suffix!r})")
    src, tgt = Path(str(path) + source_suffix), Path(str(path) + target_suffix)
    src_lines, tgt_lines = read_lines(src), read_lines(tgt)
    if len(src_lines) != len(tgt_lines):
        longer = src if len(src_lines) > len(tgt_lines) else tgt
        raise DataError(longer, min(len(src_lines), len(tgt_lines)) + 1,
                        f"line counts differ: {src} has {len(src_lines)} lines, {tgt} has {len(tgt_lines)}")
    result = ReadResult([], format="pair")
    for number, (s, t) in enumerate(zip(src_lines, tgt_lines, strict=True), 1):
        try:
            result.pairs.append(parse_pair_lines(src, tgt, number, s, t))
        except DataError as e:
            if not skip_invalid:
                raise
            result.skipped.append(str(e))
    return result


def read_pairs(path: str | Path, fmt: str = "auto", skip_invalid: bool = False, source_suffix: str = "",
               target_suffix: str = "") -> ReadResult:
    """Read (source, target) pairs, whitespace-stripped; bad lines raise DataError or, with skip_invalid,
    are listed in `skipped`. `auto` with a source/target suffix means `pair`; `.gz` files are read as gzip."""
    if fmt not in FORMATS:
        raise ConfigError(f"data.format: bad value {fmt!r}; allowed values: {', '.join(FORMATS)}")
    path = Path(path)
    if fmt == "pair" or (fmt == "auto" and (source_suffix or target_suffix)):
        result = _read_pair(path, source_suffix, target_suffix, skip_invalid)
        path = Path(str(path) + source_suffix)
    else:
        lines = read_lines(path)
        result = ReadResult([], format=detect_format(path, lines) if fmt == "auto" else fmt)
        for number, line in enumerate(lines, 1):
            try:
                result.pairs.append(parse_line(result.format, path, number, line))
            except DataError as e:
                if not skip_invalid:
                    raise
                result.skipped.append(str(e))
    if not result.pairs:
        raise DataError(path, None, "empty file: no pairs" if not result.skipped
                        else f"no valid pairs ({len(result.skipped)} invalid lines skipped)")
    return result


def _histogram(lengths: list[int], bins: int = 10) -> list[tuple[int, int, int]]:
    low, high = min(lengths), max(lengths)
    width = max(1, -(-(high - low + 1) // bins))
    counts = [0] * (-(-(high - low + 1) // width))
    for n in lengths:
        counts[(n - low) // width] += 1
    return [(low + i * width, min(high, low + (i + 1) * width - 1), c) for i, c in enumerate(counts)]


def _side(texts: list[str], tokenizer: Tokenizer) -> dict[str, Any]:
    lengths = [len(tokenizer.tokenize(t)) for t in texts]
    return {"length_min": min(lengths), "length_mean": statistics.fmean(lengths), "length_max": max(lengths),
            "histogram": _histogram(lengths), "chars": len(set().union(*texts)),
            "types": len({tok for t in texts for tok in tokenizer.tokenize(t)})}


def inspect_file(path: str | Path, fmt: str = "auto", tokenizer: str | Tokenizer = "char",
                 source_suffix: str = "", target_suffix: str = "") -> dict[str, Any]:
    """Counts, token-length statistics and histograms, vocabulary sizes and invalid lines of a corpus."""
    result = read_pairs(path, fmt, skip_invalid=True, source_suffix=source_suffix, target_suffix=target_suffix)
    if isinstance(tokenizer, str):
        tokenizer = build_tokenizer(tokenizer)
        tokenizer.fit(t for pair in result.pairs for t in pair)
    sources, targets = [p[0] for p in result.pairs], [p[1] for p in result.pairs]
    return {"path": str(path), "format": result.format, "tokenizer": tokenizer.kind, "pairs": len(result.pairs),
            "unique_pairs": len(set(result.pairs)), "unique_sources": len(set(sources)),
            "invalid": result.skipped, "source": _side(sources, tokenizer), "target": _side(targets, tokenizer)}


def format_inspection(stats: dict[str, Any]) -> str:
    """Human-readable report of `inspect_file` output, for `seq2seq data inspect`."""
    lines = [f"{stats['path']}  (format {stats['format']}, {stats['tokenizer']} tokens)",
             f"pairs: {stats['pairs']}  unique pairs: {stats['unique_pairs']}  "
             f"unique sources: {stats['unique_sources']}  invalid lines: {len(stats['invalid'])}"]
    for side in ("source", "target"):
        s = stats[side]
        lines.append(f"{side}: length min {s['length_min']}  mean {s['length_mean']:.1f}  max {s['length_max']}"
                     f"  distinct chars {s['chars']}  distinct tokens {s['types']}")
        peak = max(c for _, _, c in s["histogram"])
        for low, high, count in s["histogram"]:
            label = f"{low}" if low == high else f"{low}-{high}"
            lines.append(f"  {label:>9} {count:>8} {'#' * round(40 * count / peak)}")
    for message in stats["invalid"][:20]:
        lines.append(f"invalid: {message}")
    if len(stats["invalid"]) > 20:
        lines.append(f"... and {len(stats['invalid']) - 20} more invalid lines")
    return "\n".join(lines)
