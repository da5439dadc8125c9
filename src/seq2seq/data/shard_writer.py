"""The work of `seq2seq preprocess` done per chunk, in worker processes: pass 1 parses and tokenises a chunk once,
numbering its token types locally and counting them; pass 2, once the vocabularies are known, maps the local
numbers to vocabulary ids and writes the chunk's shard. Every file appears whole or not at all."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .chunks import Chunk, chunk_lines
from .datasets import DataError, parse_line, parse_pair_lines
from .text_blob import text_arrays
from .text_checks import text_problem
from .tokenizers import Tokenizer, load_tokenizer
from .vocab import UNK, Vocab

SIDE_NAMES = ("source", "target")
# The splits whose raw target lines are kept (`NNNNN.references.npy` + offsets): what their outputs are scored
# against, exactly as the text path reads them (a word outside the vocabulary stays itself, not <unk>).
REFERENCE_SPLITS = ("valid", "test")


@dataclass(frozen=True)
class Setup:
    """What every worker needs: the work directory (tokenizers and vocabularies saved there) and each split's
    corpora, as (format, its file or its two files for format pair)."""

    work: str
    files: dict[str, list[tuple[str, tuple[str, ...]]]]
    skip_invalid: bool


@dataclass(frozen=True)
class ChunkTask:
    """One chunk of corpus `stream` of a split; `limits` are the length filters (training split only)."""

    split: str
    chunk: Chunk
    limits: tuple[int | None, int | None] = (None, None)
    stream: int = 0


@dataclass
class ChunkCounts:
    """Pass 1's result for one chunk: pairs read, kept, dropped as too long and skipped as invalid, and each
    side's token types in first-appearance order with their counts (over every valid pair, kept or not)."""

    split: str
    index: int
    read: int
    kept: int
    dropped: int
    skipped: int
    first_skipped: str | None
    source_tokens: list[str]
    source_counts: list[int]
    target_tokens: list[str]
    target_counts: list[int]
    stream: int = 0


_state: dict[str, Any] = {}


def start(setup: Setup, with_vocabs: bool = False) -> None:
    """Load the tokenizers (and, for pass 2, the vocabularies' token -> id maps) once per process."""
    work = Path(setup.work)
    _state.clear()
    _state["setup"] = setup
    _state["tokenizers"] = tuple(load_tokenizer(work, name) for name in SIDE_NAMES)
    if with_vocabs:
        _state["ids"] = tuple({t: i for i, t in enumerate(Vocab.load(work / f"{name}.vocab.json").tokens)}
                              for name in SIDE_NAMES)


def chunk_path(work: str | Path, split: str, index: int, suffix: str) -> Path:
    """Where a chunk's file of the given kind lives (`source.npy`, `counts.json`, ...)."""
    return Path(work) / split / f"{index:05d}.{suffix}"


def save_array(path: Path, array: np.ndarray) -> None:
    """Write a .npy file whole or not at all (a temporary name, then a rename)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, array, allow_pickle=False)
    os.replace(tmp, path)


def save_json(path: Path, data: Any) -> None:
    """Write a JSON file whole or not at all."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def _decoded(chunk: Chunk, part: int) -> list[str] | None:
    """The chunk's lines of file `part` as text in one decoding, or None when some line is not valid text (then
    each line is decoded alone, so that the error names it)."""
    try:
        text = chunk.lines[part].decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text_problem(text) is not None:
        return None
    return [line.removesuffix("\r") for line in text.split("\n")[:-1]]


def _fast_pairs(fmt: str, chunk: Chunk, parts: int) -> list[tuple[str, str] | None] | None:
    """Each line's pair where the common case settles it at once (`tsv`: two non-empty columns; `pair`: two
    non-empty lines), None where the exact reader must look (it gives the same pair or the error)."""
    texts = [_decoded(chunk, k) for k in range(parts)]
    if any(t is None for t in texts) or fmt not in ("tsv", "pair"):
        return None
    out: list[tuple[str, str] | None] = []
    for line in zip(*texts):
        columns = line[0].split("\t") if fmt == "tsv" else list(line)
        if len(columns) == 2 and (source := columns[0].strip()) and (target := columns[1].strip()):
            out.append((source, target))
        else:
            out.append(None)
    return out


def _parse(setup: Setup, task: ChunkTask) -> tuple[list[tuple[str, str]], int, str | None]:
    """The chunk's valid pairs; invalid lines raise DataError, or are counted with `skip_invalid`."""
    fmt, names = setup.files[task.split][task.stream]
    paths, chunk = tuple(Path(p) for p in names), task.chunk
    fast = _fast_pairs(fmt, chunk, len(paths))
    if fast is not None and all(p is not None for p in fast):
        return fast, 0, None  # type: ignore[return-value]
    pairs, skipped, first = [], 0, None
    parts = [chunk_lines(chunk, k) for k in range(len(paths))]
    for k, raw in enumerate(zip(*parts)):
        if fast is not None and fast[k] is not None:
            pairs.append(fast[k])
            continue
        number = chunk.first_line + k
        try:
            pairs.append(parse_pair_lines(paths[0], paths[1], number, *raw) if fmt == "pair"
                         else parse_line(fmt, paths[0], number, raw[0]))
        except DataError as e:
            if not setup.skip_invalid:
                raise
            skipped += 1
            first = first or str(e)
    return pairs, skipped, first


def numbered(tokenizer: Tokenizer, texts: list[str]) -> tuple[list[int], np.ndarray, list[str], np.ndarray]:
    """Local ids of every text's tokens (flat), the texts' lengths, the token types and their counts."""
    local: defaultdict[str, int] = defaultdict()
    local.default_factory = local.__len__  # a new type gets the next number, all inside the C loop of map()
    number = local.__getitem__
    flat: list[int] = []
    lengths = np.empty(len(texts), dtype=np.int64)
    tokenize = tokenizer.tokenize
    for i, text in enumerate(texts):
        tokens = tokenize(text)
        lengths[i] = len(tokens)
        flat.extend(map(number, tokens))
    counts = np.bincount(np.asarray(flat, dtype=np.int64), minlength=len(local)) if flat else np.zeros(0, np.int64)
    return flat, lengths, list(local), counts


def count_chunk(task: ChunkTask) -> ChunkCounts:
    """Pass 1: parse and tokenise a chunk, write its kept pairs' local ids and lengths, return its counts."""
    setup: Setup = _state["setup"]
    pairs, skipped, first = _parse(setup, task)
    kept_mask = np.ones(len(pairs), dtype=bool)
    sides = []
    for k, tokenizer in enumerate(_state["tokenizers"]):
        flat, lengths, tokens, counts = numbered(tokenizer, [p[k] for p in pairs])
        limit = task.limits[k]
        if limit:
            kept_mask &= lengths <= limit
        sides.append((np.asarray(flat, dtype=np.uint32), lengths, tokens, counts))
    for name, (flat, lengths, _, _) in zip(SIDE_NAMES, sides):
        save_array(chunk_path(setup.work, task.split, task.chunk.index, f"{name}.local.npy"),
                   flat[np.repeat(kept_mask, lengths)])
        save_array(chunk_path(setup.work, task.split, task.chunk.index, f"{name}.lengths.npy"),
                   lengths[kept_mask].astype(np.uint32))
    if task.split in REFERENCE_SPLITS:
        targets = [pair[1] for pair, keep in zip(pairs, kept_mask) if keep]
        save_references(setup.work, task.split, task.chunk.index, targets)
    result = ChunkCounts(task.split, task.chunk.index, task.chunk.count, int(kept_mask.sum()),
                         int(len(pairs) - kept_mask.sum()), skipped, first,
                         sides[0][2], sides[0][3].tolist(), sides[1][2], sides[1][3].tolist(), task.stream)
    save_json(chunk_path(setup.work, task.split, task.chunk.index, "counts.json"), dict(vars(result)))
    return result


def save_references(work: str | Path, split: str, index: int, texts: list[str]) -> None:
    """A chunk's raw reference lines as `NNNNN.references.npy` (UTF-8 bytes) and `NNNNN.references.offsets.npy`."""
    blob, offsets = text_arrays(texts)
    save_array(chunk_path(work, split, index, "references.offsets.npy"), offsets)
    save_array(chunk_path(work, split, index, "references.npy"), blob)


def read_counts(path: Path) -> ChunkCounts:
    """A chunk's pass-1 counts written by `count_chunk`."""
    return ChunkCounts(**json.loads(path.read_text(encoding="utf-8")))


def write_shard(job: tuple[str, int, str]) -> int:
    """Pass 2 for (split, chunk index, id dtype): vocabulary ids and offsets of both sides; returns the pairs."""
    split, index, dtype = job
    setup: Setup = _state["setup"]
    counts = read_counts(chunk_path(setup.work, split, index, "counts.json"))
    for name, ids, tokens in zip(SIDE_NAMES, _state["ids"], (counts.source_tokens, counts.target_tokens)):
        local_path = chunk_path(setup.work, split, index, f"{name}.local.npy")
        mapping = np.fromiter((ids.get(t, UNK) for t in tokens), dtype=np.int64, count=len(tokens))
        lengths = np.load(chunk_path(setup.work, split, index, f"{name}.lengths.npy"))
        save_array(chunk_path(setup.work, split, index, f"{name}.npy"), mapping[np.load(local_path)].astype(dtype))
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        save_array(chunk_path(setup.work, split, index, f"{name}.offsets.npy"), offsets)
    for name in SIDE_NAMES:
        chunk_path(setup.work, split, index, f"{name}.local.npy").unlink(missing_ok=True)
    return counts.kept
