"""`seq2seq preprocess`: text corpora in, a data directory out, encoded once into memory-mapped shards.

Tokenizers and vocabularies are fitted by streaming (SentencePiece on a bounded sample); each chunk of lines is
parsed and tokenised once, in `workers` processes (`shard_writer`); the length filters are applied here and
counted. Everything is written into `OUT.partial` and renamed to OUT at the end, so a directory with a manifest is
always complete; an interrupted run leaves `OUT.partial`, which the same command finishes chunk by chunk.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import shutil
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Config, ConfigError
from .chunks import Chunk, chunk_lines, line_count, read_chunks
from .corpus import sample_stride
from .datasets import FORMATS, DataError, detect_format, parse_line, parse_pair_lines
from .feature_shards import encode_features, feature_streams
from .manifest import FORMAT_VERSION, KIND, MANIFEST, encoding_settings, settings_hash
from .shard_writer import (
    REFERENCE_SPLITS,
    SIDE_NAMES,
    ChunkCounts,
    ChunkTask,
    Setup,
    chunk_path,
    count_chunk,
    read_counts,
    save_array,
    save_json,
    start,
    write_shard,
)
from .tokenizers import Tokenizer, build_tokenizer, save_tokenizer
from .vocab import Vocab
from .vocab_file import read_vocab

log = logging.getLogger("seq2seq")

CHUNK_LINES = 50_000
PROGRESS = "progress.json"
SPLITS = ("train", "valid", "test")

Corpus = tuple[str, str]  # (name, path)
Stream = tuple[str, str, tuple[Path, ...], int]  # (name, format, files, lines)


def _resolve_format(cfg: Config, path: Path) -> tuple[str, tuple[Path, ...]]:
    """A corpus's format and its file(s): two for `pair` (PATH+suffix each)."""
    d = cfg.data
    if d.format == "pair" or (d.format == "auto" and (d.source_suffix or d.target_suffix)):
        if d.source_suffix == d.target_suffix:
            raise ConfigError("format pair reads two files, PATH+source_suffix and PATH+target_suffix: give two "
                              "different suffixes, e.g. .de and .en (data.source_suffix / data.target_suffix)")
        return "pair", (Path(str(path) + d.source_suffix), Path(str(path) + d.target_suffix))
    if d.format != "auto":
        return d.format, (path,)
    first = next(read_chunks((path,), min(line_count(path), 1000), 1000), None)
    return detect_format(path, chunk_lines(first) if first else []), (path,)


def _lines(fmt: str, paths: tuple[Path, ...]) -> int:
    """The corpus's line count (trailing blank lines left out); the two files of `pair` must agree."""
    counts = [line_count(p) for p in paths]
    if not counts[0]:
        raise DataError(paths[0], None, "empty file: no pairs")
    if len(counts) == 2 and counts[0] != counts[1]:
        longer = paths[0] if counts[0] > counts[1] else paths[1]
        raise DataError(longer, min(counts) + 1, f"line counts differ: {paths[0]} has {counts[0]} lines, {paths[1]} "
                                                 f"has {counts[1]}")
    return counts[0]


def _fingerprint(cfg: Config, streams: dict[str, list[tuple[str, str, tuple[Path, ...], int]]], chunk: int) -> str:
    """What an interrupted run must share with this one to be finished by it: settings, inputs (size, time)."""
    files = {split: [(name, fmt, [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths])
                     for name, fmt, paths, _ in found] for split, found in streams.items()}
    return json.dumps({"version": FORMAT_VERSION, "data": encoding_settings(cfg), "files": files, "chunk": chunk},
                      sort_keys=True)


def _prepare_work(out: Path, fingerprint: str, splits: list[str]) -> Path:
    """The `.partial` directory beside OUT: reused when it holds this same preprocessing, else started afresh."""
    work = out.with_name(out.name + ".partial")
    marker = work / PROGRESS
    if work.exists():
        if not marker.is_file():
            raise ConfigError(f"{work} exists but was not left by `seq2seq preprocess`; move it away first")
        if json.loads(marker.read_text(encoding="utf-8")).get("fingerprint") == fingerprint:
            log.info("resuming the interrupted preprocessing in %s", work)
            return work
        log.warning("%s holds an interrupted preprocessing of other inputs or settings: removing it", work)
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for split in splits:
        (work / split).mkdir()
    save_json(marker, {"fingerprint": fingerprint})
    return work


def _tokenizer(cfg: Config, kind: str) -> Tokenizer:
    d = cfg.data
    return build_tokenizer(kind, word_split=d.word_split, lowercase=d.lowercase, sp_type=d.sentencepiece_type,
                           sp_vocab_size=d.sentencepiece_vocab_size)


def _sample(streams: list[tuple[str, str, tuple[Path, ...], int]], side: int) -> list[str]:
    """Every `sample_stride`-th valid text of one side of the training corpora (SentencePiece's sample)."""
    stride = sample_stride(sum(lines for *_, lines in streams))
    texts, seen = [], 0
    for _, fmt, paths, lines in streams:
        for chunk in read_chunks(paths, lines, CHUNK_LINES):
            parts = [chunk_lines(chunk, k) for k in range(len(paths))]
            for k, raw in enumerate(zip(*parts)):
                if (seen + k) % stride:
                    continue
                number = chunk.first_line + k
                try:
                    pair = parse_pair_lines(*paths, number, *raw) if fmt == "pair" else \
                        parse_line(fmt, paths[0], number, raw[0])
                except DataError:
                    continue  # pass 1 reports it (or skips it with data.skip_invalid)
                texts.append(pair[side])
            seen += chunk.count
    return texts


def _fit_tokenizers(cfg: Config, work: Path, train: list[tuple[str, str, tuple[Path, ...], int]]) -> None:
    """Both sides' tokenizers, fitted where they learn (SentencePiece on a bounded sample), saved into `work`."""
    if (work / "target.tokenizer.json").is_file():
        return
    source, target = _tokenizer(cfg, cfg.source_tokenizer), _tokenizer(cfg, cfg.target_tokenizer)
    if cfg.data.shared_vocab:
        if source.kind == "sentencepiece":
            source.fit(_sample(train, 0) + _sample(train, 1))
        target = source
    else:
        for k, tok in enumerate((source, target)):
            if tok.kind == "sentencepiece":
                tok.fit(_sample(train, k))
    save_tokenizer(source, work, "source")
    save_tokenizer(target, work, "target")


def _tasks(cfg: Config, streams: dict[str, list[tuple[str, str, tuple[Path, ...], int]]], work: Path,
           chunk_size: int) -> Iterator[ChunkTask | ChunkCounts]:
    """Every chunk of every split in order: a task to run, or the counts of a chunk an earlier run finished."""
    for split, found in streams.items():
        limits = (cfg.data.max_source_length, cfg.data.max_target_length) if split == "train" else (None, None)
        index = 0
        for stream, (_, _, paths, lines) in enumerate(found):
            for chunk in read_chunks(paths, lines, chunk_size):
                numbered = Chunk(index, chunk.first_line, chunk.lines)
                done = chunk_path(work, split, index, "counts.json")
                yield read_counts(done) if done.is_file() else ChunkTask(split, numbered, limits, stream)
                index += 1


class _Ready:
    """A result already there, with the `.get()` of a pool's pending one."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def get(self) -> Any:
        return self.value


@contextmanager
def _pool(workers: int, setup: Setup, with_vocabs: bool = False) -> Iterator[Callable[..., Any]]:
    """`submit(fn, arg)` -> an object with `.get()`: in this process for one worker, else in a process pool."""
    if workers <= 1:
        start(setup, with_vocabs)
        yield lambda fn, arg: _Ready(fn(arg))
        return
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    pool = context.Pool(workers, initializer=start, initargs=(setup, with_vocabs))
    try:
        yield lambda fn, arg: pool.apply_async(fn, (arg,))
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def _bar(total: int | None, desc: str, show: bool, unit: str = "lines") -> Any:
    try:
        from tqdm import tqdm
    except ImportError:
        show = False
    if not show:
        class Quiet:
            def update(self, _: int) -> None: ...
            def close(self) -> None: ...
        return Quiet()
    return tqdm(total=total, desc=desc, unit=f" {unit}", unit_scale=True, dynamic_ncols=True)


def _run(tasks: Iterator[Any], submit: Callable[..., Any], fn: Callable[..., Any], workers: int,
         done: Callable[[Any], None]) -> None:
    """Run `fn` over tasks with at most 2 per worker in flight (the reader never runs ahead of the workers by more),
    handing each result to `done` in order; a finished result (not a task) goes to `done` directly."""
    pending: deque[Any] = deque()
    for task in tasks:
        pending.append(submit(fn, task) if isinstance(task, (ChunkTask, tuple)) else _Ready(task))
        while len(pending) > 2 * max(workers, 1):
            done(pending.popleft().get())
    while pending:
        done(pending.popleft().get())


def _vocabularies(cfg: Config, merged: list[Counter[str]], work: Path) -> tuple[Vocab, Vocab]:
    """The vocabularies from the training chunks' merged counts (source, target) or from data.source_vocab /
    target_vocab; saved into `work`."""
    d = cfg.data

    def build(count: Counter, key: str, path: str | None) -> Vocab:
        return read_vocab(path, d.min_freq, d.max_vocab_size, key) if path else \
            Vocab.from_counts(count, d.min_freq, d.max_vocab_size)

    if d.shared_vocab:
        both = Counter(merged[0])
        both.update(merged[1])
        key, path = ("data.target_vocab", d.target_vocab) if d.target_vocab else ("data.source_vocab", d.source_vocab)
        source = target = build(both, key, path)
    else:
        source = build(merged[0], "data.source_vocab", d.source_vocab)
        target = build(merged[1], "data.target_vocab", d.target_vocab)
    source.save(work / "source.vocab.json")
    target.save(work / "target.vocab.json")
    return source, target


def _finish_split(work: Path, split: str, counts: list[ChunkCounts], found: list[tuple[str, str, Any, int]],
                  dtype: str, texts: bool) -> dict[str, Any]:
    """One split's lengths files (all its shards together) and its manifest entry; the chunk scraps removed."""
    counts = sorted(counts, key=lambda c: c.index)
    entry: dict[str, Any] = {"pairs": 0, "read": 0, "dropped": 0, "skipped": 0, "first_skipped": None,
                             "shards": [c.kept for c in counts], "ids_dtype": dtype,
                             "references": texts and split in REFERENCE_SPLITS}
    for name in SIDE_NAMES:
        parts = [np.load(chunk_path(work, split, c.index, f"{name}.lengths.npy")) for c in counts]
        lengths = np.concatenate(parts) if parts else np.zeros(0, np.uint32)
        small = lengths.size == 0 or int(lengths.max()) < 2**16
        save_array(work / split / f"{name}.lengths.npy", lengths.astype(np.uint16 if small else np.uint32))
        entry[f"{name}_tokens"] = int(lengths.sum(dtype=np.int64))
    for c in counts:
        entry["pairs"] += c.kept
        entry["read"] += c.read
        entry["dropped"] += c.dropped
        entry["skipped"] += c.skipped
        entry["first_skipped"] = entry["first_skipped"] or c.first_skipped
    # Which pairs came from which corpus: contiguous runs, in the order the corpora were given.
    entry["corpora"], first = [], 0
    for stream, (name, fmt, paths, _) in enumerate(found):
        pairs = sum(c.kept for c in counts if c.stream == stream)
        entry["corpora"].append({"name": name, "format": fmt, "files": [str(p) for p in paths], "first": first,
                                 "pairs": pairs})
        first += pairs
    for c in counts:
        for suffix in ("counts.json", "source.lengths.npy", "target.lengths.npy"):
            chunk_path(work, split, c.index, suffix).unlink(missing_ok=True)
    return entry


def _streams(cfg: Config, corpora: dict[str, list[Corpus]]) -> dict[str, list[tuple[str, str, tuple[Path, ...], int]]]:
    """Each split's corpora as (name, format, files, lines), checked before any work starts."""
    if not corpora.get("train") or not corpora.get("valid"):
        raise ConfigError("preprocess needs training and validation data: --train FILE and --valid FILE")
    streams = {}
    for split in SPLITS:
        found = []
        for name, path in corpora.get(split) or []:
            fmt, paths = _resolve_format(cfg, Path(path))
            if fmt not in FORMATS:
                raise ConfigError(f"data.format: bad value {fmt!r}; allowed values: {', '.join(FORMATS)}")
            found.append((name, fmt, paths, _lines(fmt, paths)))
        names = [name for name, *_ in found]
        if len(set(names)) != len(names):
            raise ConfigError(f"{split}: two corpora named {next(n for n in names if names.count(n) > 1)!r}; name "
                              f"them apart with NAME=FILE")
        if found:
            streams[split] = found
    return streams


def _report(split: str, entry: dict[str, Any], cfg: Config) -> None:
    if entry["skipped"]:
        log.warning("%s: skipped %d invalid line(s) (data.skip_invalid=true); first: %s", split, entry["skipped"],
                    entry["first_skipped"])
    if entry["dropped"]:
        limits = " or ".join(f"data.{key}={value}" for key in ("max_source_length", "max_target_length")
                             if (value := getattr(cfg.data, key)))
        log.warning("%s: dropped %d of %d pairs longer than %s", split, entry["dropped"],
                    entry["pairs"] + entry["dropped"], limits)
    log.info("%s: %d pairs in %d shard(s), %d source and %d target tokens", split, entry["pairs"],
             len(entry["shards"]), entry["source_tokens"], entry["target_tokens"])


def _encode_text(cfg: Config, streams: dict[str, list[Stream]], work: Path, workers: int, chunk_size: int,
                 progress: bool) -> tuple[dict[str, list[ChunkCounts]], str, dict[str, dict[str, Any]]]:
    """Both passes over the text corpora in `workers` processes: each split's chunk counts, the id dtype, and the
    manifest's side entries."""
    _fit_tokenizers(cfg, work, streams["train"])
    setup = Setup(str(work), {split: [(fmt, tuple(str(p) for p in paths)) for _, fmt, paths, _ in found]
                              for split, found in streams.items()}, cfg.data.skip_invalid)
    bar = _bar(sum(lines for found in streams.values() for *_, lines in found), "preprocess", progress)
    results: dict[str, list[ChunkCounts]] = {split: [] for split in streams}
    # Merged as the chunks come, in chunk order, so that ties keep first appearance as in `Vocab.build`; each
    # chunk's own list of types is dropped at once (together they grow with the corpus).
    merged: list[Counter[str]] = [Counter(), Counter()]

    def counted(c: ChunkCounts) -> None:
        if c.split == "train":
            merged[0].update(dict(zip(c.source_tokens, c.source_counts)))
            merged[1].update(dict(zip(c.target_tokens, c.target_counts)))
        results[c.split].append(replace(c, source_tokens=[], source_counts=[], target_tokens=[], target_counts=[]))
        bar.update(c.read)

    with _pool(workers, setup) as submit:
        _run(_tasks(cfg, streams, work, chunk_size), submit, count_chunk, workers, counted)
    bar.close()
    source, target = _vocabularies(cfg, merged, work)
    dtype = "uint16" if max(len(source), len(target)) <= 2**16 else "uint32"
    jobs = [(split, c.index, dtype) for split, found in results.items() for c in found
            if not chunk_path(work, split, c.index, "target.offsets.npy").is_file()]
    with _pool(workers, setup, with_vocabs=True) as submit:
        _run(iter(jobs), submit, write_shard, workers, lambda _: None)
    sides = {"source": {"type": "tokens", "tokenizer": cfg.source_tokenizer, "vocab_size": len(source)},
             "target": {"type": "tokens", "tokenizer": cfg.target_tokenizer, "vocab_size": len(target)}}
    return results, dtype, sides


def preprocess(cfg: Config, corpora: dict[str, list[Corpus]], out: str | Path, workers: int = 1, *,
               chunk_size: int = CHUNK_LINES, progress: bool = True) -> dict[str, Any]:
    """Encode the corpora of each split (`{"train": [(name, path), ...], "valid": [...], "test": [...]}`) into
    the data directory `out` as `cfg.data` says; returns its manifest. DataError for a bad line (nothing left
    behind); an interruption or a refused write leaves `out.partial`, which the same call finishes."""
    d = cfg.data
    features = "features" in (d.source_type, d.target_type)
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    out = Path(out)
    if (out / MANIFEST).exists():
        raise ConfigError(f"{out} already holds a preprocessed corpus; choose another --out or remove it first")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} exists and is not an empty directory; choose another --out")
    streams = feature_streams(corpora) if features else _streams(cfg, corpora)
    work = _prepare_work(out, _fingerprint(cfg, streams, chunk_size), list(streams))
    started = time.perf_counter()
    try:
        if features:
            if workers > 1:
                log.info("feature data is preprocessed in one process (--workers %d not used)", workers)
            bar = _bar(None, "preprocess", progress, "pairs")
            encoded = encode_features(cfg, streams, work, chunk_size, bar.update)
            bar.close()
            results, dtype, sides = encoded.counts, encoded.dtype, encoded.sides
        else:
            results, dtype, sides = _encode_text(cfg, streams, work, workers, chunk_size, progress)
        splits = {split: _finish_split(work, split, results[split], streams[split], dtype, d.target_type == "tokens")
                  for split in streams}
        if not splits["train"]["pairs"]:
            raise ConfigError("no training pairs left after the length filter (data.max_*_length)")
        settings = encoding_settings(cfg)
        manifest = {"kind": KIND, "version": FORMAT_VERSION, "data": settings, "settings_hash": settings_hash(settings),
                    "seconds": round(time.perf_counter() - started, 3), "workers": 1 if features else workers,
                    **sides, "splits": splits}
        save_json(work / MANIFEST, manifest)
        work.rename(out)
    except (DataError, ConfigError):
        shutil.rmtree(work, ignore_errors=True)  # bad input: nothing is left that could pass for output
        raise
    except OSError as e:
        raise OSError(e.errno, f"cannot write {e.filename or work}: {e.strerror or e}; {out} was not made and the "
                               f"chunks done so far stay in {work}: make room and run the same command to "
                               f"finish") from None
    except KeyboardInterrupt:
        log.warning("interrupted: the chunks done so far stay in %s; run the same command to finish", work)
        raise
    (out / PROGRESS).unlink(missing_ok=True)
    for split, entry in splits.items():
        _report(split, entry, cfg)
    read = sum(entry["read"] for entry in splits.values())
    unit = "pairs" if features else "lines"
    log.info("%d %s in %.1f s (%.0f %s/s, %d worker(s)) -> %s", read, unit, manifest["seconds"],
             read / max(manifest["seconds"], 1e-9), unit, manifest["workers"], out)
    return manifest


def corpus_list(items: list[str]) -> list[Corpus]:
    """`[NAME=]FILE` arguments -> (name, path) pairs; a corpus is named after its file unless NAME= says otherwise."""
    corpora = []
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum() \
                or Path(item).exists():
            name, path = Path(item.removesuffix(".gz")).stem, item
        corpora.append((name, path))
    return corpora
