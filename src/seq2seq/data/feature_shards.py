"""`seq2seq preprocess` for feature data (`.npz`/CSV: speech filterbanks, time series): each chunk's frames
written once as one flat float32 array (frames x dims) with offsets, read memory-mapped at training time;
normalisation statistics accumulated sequence by sequence as they stream past; text sides numbered as the text
corpora's are. One file is read at a time (a corpus bigger than memory comes as several files, `--train` each)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Config, ConfigError
from .corpus import sentencepiece_texts
from .datasets import DataError
from .feature_files import FeatureDataError, read_feature_pairs
from .feature_stats import FeatureStats
from .shard_writer import (
    REFERENCE_SPLITS,
    SIDE_NAMES,
    ChunkCounts,
    chunk_path,
    numbered,
    read_counts,
    save_array,
    save_json,
    save_references,
)
from .sides import FeatureSide
from .tokenizers import build_tokenizer, load_tokenizer, save_tokenizer
from .vocab import UNK, Vocab
from .vocab_file import read_vocab

log = logging.getLogger("seq2seq")

Stream = tuple[str, str, tuple[Path, ...], int]  # (name, format, files, lines)


@dataclass
class FeatureResult:
    """What pass 1 and 2 leave for the manifest: each split's chunk counts, the id dtype, each side's entry."""

    counts: dict[str, list[ChunkCounts]]
    dtype: str
    sides: dict[str, dict[str, Any]]


def _kinds(cfg: Config) -> tuple[str, str]:
    return cfg.data.source_type, cfg.data.target_type


def _read(cfg: Config, path: Path) -> tuple[list[tuple[Any, Any]], list[str]]:
    """A feature file's valid pairs and the messages of those skipped (reported as the text path reports them)."""
    d = cfg.data
    pairs, skipped = read_feature_pairs(path, d.source_type, d.target_type, skip_invalid=d.skip_invalid,
                                        allow_pickle=d.npz_allow_pickle)
    if skipped:
        log.warning("%s: skipped %d invalid line(s) (data.skip_invalid=true); first: %s", path, len(skipped),
                    skipped[0])
    return pairs, skipped


def _tokenizers(cfg: Config, work: Path, train: list[Stream]) -> None:
    """The text sides' tokenizers (SentencePiece fitted on the training texts as the text path fits it), saved."""
    d = cfg.data
    for k, (name, kind, tok_kind) in enumerate(zip(SIDE_NAMES, _kinds(cfg), (cfg.source_tokenizer,
                                                                             cfg.target_tokenizer))):
        if kind != "tokens" or (work / f"{name}.tokenizer.json").is_file():
            continue
        tok = build_tokenizer(tok_kind, word_split=d.word_split, lowercase=d.lowercase, sp_type=d.sentencepiece_type,
                              sp_vocab_size=d.sentencepiece_vocab_size)
        if tok.kind == "sentencepiece":
            tok.fit(sentencepiece_texts([pair[k] for _, _, paths, _ in train for pair in _read(cfg, paths[0])[0]]))
        save_tokenizer(tok, work, name)


def _frames(sequences: list[np.ndarray], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Sequences (L, D) -> one flat float32 array (sum L, D) and offsets (int64, N + 1)."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.concatenate(sequences, 0) if sequences else np.zeros((0, dim), np.float32)
    return np.ascontiguousarray(flat, dtype=np.float32), offsets


class _Pass1:
    """Pass 1 over the corpora in order: frames written, text sides numbered and counted, statistics streamed."""

    def __init__(self, cfg: Config, work: Path) -> None:
        self.cfg, self.work = cfg, work
        self.kinds = _kinds(cfg)
        self.tokenizers = [load_tokenizer(work, name) if kind == "tokens" else None
                           for name, kind in zip(SIDE_NAMES, self.kinds)]
        self.stats = [FeatureStats(), FeatureStats()]
        self.dims: list[int | None] = [None, None]
        self.merged: list[Counter[str]] = [Counter(), Counter()]

    def check_dims(self, path: Path, pair: tuple[Any, Any]) -> None:
        for k, (name, kind) in enumerate(zip(SIDE_NAMES, self.kinds)):
            if kind == "features":
                dim = pair[k].shape[1]
                if self.dims[k] is None:
                    self.dims[k] = dim
                elif dim != self.dims[k]:
                    raise FeatureDataError(path, "", f"{name}: vector size {dim}, expected {self.dims[k]} (as in "
                                                     f"the first file)")

    def chunk(self, split: str, index: int, stream: int, pairs: list[tuple[Any, Any]],
              limits: tuple[int | None, int | None], skipped: list[str]) -> ChunkCounts:
        """Write one chunk's frames (final) and text sides' local ids; its counts, and the statistics so far."""
        kept = np.ones(len(pairs), dtype=bool)
        sides: list[tuple[np.ndarray | None, np.ndarray, list[str], list[int]]] = []
        for k, kind in enumerate(self.kinds):
            values = [p[k] for p in pairs]
            if kind == "features":
                if split == "train":
                    for value in values:
                        self.stats[k].add(value)
                sides.append((None, np.array([len(v) for v in values], dtype=np.int64), [], []))
            else:
                flat, lengths, types, counts = numbered(self.tokenizers[k], values)
                sides.append((np.asarray(flat, dtype=np.uint32), lengths, types, counts.tolist()))
            if limits[k]:
                kept &= sides[k][1] <= limits[k]
        for k, (name, (flat, lengths, _, _)) in enumerate(zip(SIDE_NAMES, sides)):
            if flat is None:
                frames, offsets = _frames([p[k] for p, keep in zip(pairs, kept) if keep], int(self.dims[k] or 1))
                save_array(chunk_path(self.work, split, index, f"{name}.npy"), frames)
                save_array(chunk_path(self.work, split, index, f"{name}.offsets.npy"), offsets)
            else:
                save_array(chunk_path(self.work, split, index, f"{name}.local.npy"), flat[np.repeat(kept, lengths)])
            save_array(chunk_path(self.work, split, index, f"{name}.lengths.npy"), lengths[kept].astype(np.uint32))
        if split in REFERENCE_SPLITS and self.kinds[1] == "tokens":
            save_references(self.work, split, index, [p[1] for p, keep in zip(pairs, kept) if keep])
        result = ChunkCounts(split, index, len(pairs) + len(skipped), int(kept.sum()), int(len(pairs) - kept.sum()),
                             len(skipped), skipped[0] if skipped else None, sides[0][2], sides[0][3], sides[1][2],
                             sides[1][3], stream)
        save_json(chunk_path(self.work, split, index, "state.json"),
                  {"stats": [s.state() for s in self.stats], "dims": self.dims})
        save_json(chunk_path(self.work, split, index, "counts.json"), dict(vars(result)))
        return result

    def resume(self, split: str, index: int) -> ChunkCounts:
        """A chunk an interrupted run finished: its counts, and the statistics as they stood after it."""
        state = json.loads(chunk_path(self.work, split, index, "state.json").read_text(encoding="utf-8"))
        self.stats = [FeatureStats.from_state(s) for s in state["stats"]]
        self.dims = list(state["dims"])
        return read_counts(chunk_path(self.work, split, index, "counts.json"))

    def count(self, c: ChunkCounts) -> None:
        """Merge a training chunk's token counts (in chunk order, so ties keep first appearance)."""
        if c.split == "train":
            self.merged[0].update(dict(zip(c.source_tokens, c.source_counts)))
            self.merged[1].update(dict(zip(c.target_tokens, c.target_counts)))


def _sides(cfg: Config, work: Path, step: _Pass1) -> tuple[dict[str, dict[str, Any]], list[dict[str, int] | None]]:
    """Each side saved into `work` (statistics, or a vocabulary from the merged counts or a file); the manifest's
    side entries and each text side's token -> id map."""
    d = cfg.data
    entries, ids = {}, []
    for k, (name, kind) in enumerate(zip(SIDE_NAMES, _kinds(cfg))):
        if kind == "features":
            mean, std = step.stats[k].result()
            # Saved always; the run chooses whether to normalise (model.feature_norm).
            FeatureSide(len(mean), mean, std).save(work, name)
            entries[name] = {"type": "features", "dim": len(mean)}
            ids.append(None)
            continue
        path = getattr(d, f"{name}_vocab")
        vocab = read_vocab(path, d.min_freq, d.max_vocab_size, f"data.{name}_vocab") if path else \
            Vocab.from_counts(step.merged[k], d.min_freq, d.max_vocab_size)
        vocab.save(work / f"{name}.vocab.json")
        entries[name] = {"type": "tokens", "tokenizer": getattr(cfg, f"{name}_tokenizer"), "vocab_size": len(vocab)}
        ids.append({t: i for i, t in enumerate(vocab.tokens)})
    return entries, ids


def _map_ids(work: Path, c: ChunkCounts, ids: list[dict[str, int] | None], dtype: str) -> None:
    """Pass 2 for one chunk: its text sides' local numbers -> vocabulary ids, with offsets."""
    for name, side_ids, types in zip(SIDE_NAMES, ids, (c.source_tokens, c.target_tokens)):
        local = chunk_path(work, c.split, c.index, f"{name}.local.npy")
        if side_ids is None or not local.is_file():
            continue
        mapping = np.fromiter((side_ids.get(t, UNK) for t in types), dtype=np.int64, count=len(types))
        lengths = np.load(chunk_path(work, c.split, c.index, f"{name}.lengths.npy"))
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        save_array(chunk_path(work, c.split, c.index, f"{name}.npy"), mapping[np.load(local)].astype(dtype))
        save_array(chunk_path(work, c.split, c.index, f"{name}.offsets.npy"), offsets)
        local.unlink()


def feature_streams(corpora: dict[str, list[tuple[str, str]]]) -> dict[str, list[Stream]]:
    """Each split's feature files as (name, format, files, 0): read whole, one at a time."""
    if not corpora.get("train") or not corpora.get("valid"):
        raise ConfigError("preprocess needs training and validation data: --train FILE and --valid FILE")
    streams = {}
    for split in ("train", "valid", "test"):
        found = []
        for name, path in corpora.get(split) or []:
            file = Path(path)
            if file.suffix not in (".npz", ".csv"):
                raise FeatureDataError(file, "", f"feature data must be .npz or .csv (data.source_type/target_type="
                                                 f"features), not {file.suffix or 'a file without extension'}")
            if not file.is_file():
                raise DataError(file, None, "file not found" if not file.exists() else "not a file")
            found.append((name, file.suffix.lstrip("."), (file,), 0))
        if found:
            streams[split] = found
    return streams


def encode_features(cfg: Config, streams: dict[str, list[Stream]], work: Path, chunk_size: int,
                    progress: Callable[[int], None]) -> FeatureResult:
    """Encode every split's feature corpora into `work`: frames, ids, lengths and references per chunk, the
    sides saved; `progress(n)` after each chunk of n pairs. FeatureDataError names the file and sequence/line."""
    _tokenizers(cfg, work, streams["train"])
    step = _Pass1(cfg, work)
    counts: dict[str, list[ChunkCounts]] = {split: [] for split in streams}
    for split, found in streams.items():
        limits = (cfg.data.max_source_length, cfg.data.max_target_length) if split == "train" else (None, None)
        index = 0
        for stream, (_, _, paths, _) in enumerate(found):
            done = 0  # pairs of this file in chunks an interrupted run finished
            while chunk_path(work, split, index, "counts.json").is_file() and \
                    read_counts(chunk_path(work, split, index, "counts.json")).stream == stream:
                c = step.resume(split, index)
                counts[split].append(c)
                step.count(c)
                progress(c.read)
                done += c.kept + c.dropped
                index += 1
            if chunk_path(work, split, index, "counts.json").is_file():
                continue  # the file was finished: the next chunk is the next file's
            pairs, skipped = _read(cfg, paths[0])
            for pair in pairs:
                step.check_dims(paths[0], pair)
            for first in range(done, len(pairs), chunk_size):
                c = step.chunk(split, index, stream, pairs[first:first + chunk_size], limits,
                               skipped if first == 0 else [])
                counts[split].append(c)
                step.count(c)
                progress(c.read)
                index += 1
    sides, ids = _sides(cfg, work, step)
    dtype = "uint16" if max((len(i) for i in ids if i is not None), default=0) <= 2**16 else "uint32"
    for found in counts.values():
        for c in found:
            _map_ids(work, c, ids, dtype)
            chunk_path(work, c.split, c.index, "state.json").unlink(missing_ok=True)
    return FeatureResult(counts, dtype, sides)
