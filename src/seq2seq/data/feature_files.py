"""Real-valued sequences in files: `.npz` / CSV readers with exact errors, the CSV notation, and a writer.

A feature sequence is a float32 array (L, D): L steps of D-dimensional vectors (D = 1 for a scalar
series). Every problem names the file and the sequence (npz) or line (CSV).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import DataError, decode_line, read_lines


class FeatureDataError(DataError):
    """A bad feature sequence; the message names the file and the sequence (`path: source 17: ...`)
    or, for CSV, the line (`path:17: source: ...`)."""

    def __init__(self, path: str | Path, where: str, reason: str) -> None:
        ValueError.__init__(self, f"{path}{where}: {reason}")
        self.path, self.line, self.reason = str(path), 0, reason


# --- parsing and checking one sequence ---

def parse_sequence(text: str) -> np.ndarray:
    """CSV notation -> (L, D) float32: vectors separated by `;`, values by spaces.

    Without any `;` every value is one step of a scalar series (`1 2 3` -> (3, 1)); a single
    vector is written with a trailing `;` (`1 2 3;` -> (1, 3)). Raises ValueError with the reason.
    """
    text = text.strip()
    if ";" in text:
        parts = [p.strip() for p in text.split(";")]
        if parts and parts[-1] == "":
            parts.pop()
        rows = [p.split() for p in parts]
    else:
        rows = [[v] for v in text.split()]
    if not rows:
        raise ValueError("empty sequence")
    sizes = {len(r) for r in rows}
    if 0 in sizes:
        raise ValueError(f"empty vector at step {[len(r) for r in rows].index(0)}")
    if len(sizes) > 1:
        first = len(rows[0])
        bad = next(i for i, r in enumerate(rows) if len(r) != first)
        raise ValueError(f"step {bad} has {len(rows[bad])} values, step 0 has {first}")
    try:
        return np.array([[float(v) for v in r] for r in rows], dtype=np.float32)
    except ValueError as e:
        raise ValueError(f"not a number ({str(e).split(': ')[-1]})") from None


def format_sequence(values: np.ndarray, digits: int = 4) -> str:
    """(L, D) -> CSV notation (the inverse of parse_sequence up to rounding)."""
    values = np.asarray(values)
    if values.ndim == 1:
        values = values[:, None]
    if values.shape[1] == 1:
        return " ".join(f"{v:.{digits}g}" for v in values[:, 0])
    return "; ".join(" ".join(f"{v:.{digits}g}" for v in row) for row in values)


def check_sequence(value: Any, dim: int | None = None) -> np.ndarray:
    """A (L,) or (L, D) numeric array -> float32 (L, D); ValueError naming what is wrong."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"expected numbers, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"expected a (steps,) or (steps, dim) array, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError("empty sequence")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"vector size {arr.shape[1]}, expected {dim}")
    arr = arr.astype(np.float32)
    bad = ~np.isfinite(arr)
    if bad.any():
        step = int(np.argwhere(bad)[0][0])
        raise ValueError(f"non-finite value ({arr[bad][0]}) at step {step}")
    return arr


# --- files ---

def read_feature_pairs(path: str | Path, source_type: str, target_type: str, *, skip_invalid: bool = False,
                       allow_pickle: bool = False) -> tuple[list[tuple[Any, Any]], list[str]]:
    """(source, target) pairs of a `.npz` or `.csv` file and the messages of skipped pairs.

    A features side is a float32 (L, D) array, a tokens side a string. Every problem names the
    file and the sequence index (npz) or line (CSV); with skip_invalid the pair is skipped instead.
    """
    path = Path(path)
    if path.suffix == ".npz":
        raw = _read_npz(path, allow_pickle, (source_type, target_type))
        where = lambda i: f": sequence {i}"  # noqa: E731
    elif path.suffix == ".csv":
        raw = _read_csv(path, source_type == "features")
        where = lambda i: f":{i + 1}"  # noqa: E731
    else:
        raise FeatureDataError(path, "", f"feature data must be .npz or .csv (data.source_type/target_type="
                                         f"features), not {path.suffix or 'a file without extension'}")
    pairs, skipped = [], []
    dims: dict[str, int | None] = {"source": None, "target": None}
    for i, pair in enumerate(raw):
        try:
            checked = []
            for side, kind, value in zip(("source", "target"), (source_type, target_type), pair):
                if isinstance(value, Exception):  # the whole line is bad when both sides hold the same error
                    raise FeatureDataError(path, where(i), str(value) if pair[0] is pair[1] else f"{side}: {value}")
                checked.append(_check_side(path, where(i), side, kind, value, dims))
            pairs.append(tuple(checked))
        except FeatureDataError as e:
            if not skip_invalid:
                raise
            skipped.append(str(e))
    if not pairs:
        raise FeatureDataError(path, "", "no valid sequences")
    return pairs, skipped


def _check_side(path: Path, where: str, side: str, kind: str, value: Any, dims: dict[str, int | None]) -> Any:
    if kind == "tokens":
        if not isinstance(value, str):
            raise FeatureDataError(path, where, f"{side}: data.{side}_type=tokens needs text, got "
                                                f"{type(value).__name__}")
        if not value.strip():
            raise FeatureDataError(path, where, f"{side}: empty text")
        return value
    if isinstance(value, str):
        try:
            value = parse_sequence(value)
        except ValueError as e:
            raise FeatureDataError(path, where, f"{side}: {e}") from None
    try:
        arr = check_sequence(value)
    except ValueError as e:
        raise FeatureDataError(path, where, f"{side}: {e}") from None
    if dims[side] is not None and arr.shape[1] != dims[side]:
        raise FeatureDataError(path, where, f"{side}: vector size {arr.shape[1]}, expected {dims[side]} (as in the "
                                            f"first sequence)")
    dims[side] = arr.shape[1]
    return arr


def _read_csv(path: Path, source_first_comma: bool) -> list[tuple[Any, Any]]:
    """One pair per line, `source,target` (or tab-separated); feature fields in parse_sequence notation."""
    out: list[tuple[Any, Any]] = []
    for number, raw in enumerate(read_lines(path), 1):
        try:
            line = decode_line(path, number, raw)
        except DataError as e:
            err = ValueError(e.reason)
            out.append((err, err))
            continue
        if "\t" in line:
            parts = line.split("\t")
        else:
            # Text may hold commas: split at the comma next to the feature field.
            parts = line.split(",", 1) if source_first_comma else line.rsplit(",", 1)
        if len(parts) != 2:
            err = ValueError(f"expected `source,target`, found {len(parts)} field(s)")
            out.append((err, err))
        else:
            out.append((parts[0], parts[1]))
    return out


def _read_npz(path: Path, allow_pickle: bool, kinds: tuple[str, str]) -> list[tuple[Any, Any]]:
    """Arrays `source` and `target`: object arrays of sequences, or numeric arrays that are equal-length
    (N, L[, D]), padded (N, Lmax[, D]) with `<side>_lengths`, or concatenated (sum L[, D]) with lengths."""
    try:
        npz = np.load(path, allow_pickle=allow_pickle)
    except FileNotFoundError:
        raise FeatureDataError(path, "", "file not found") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise FeatureDataError(path, "", f"not a readable .npz file ({e})") from None
    with npz:
        sides = []
        for side, kind in zip(("source", "target"), kinds):
            if side not in npz.files:
                raise FeatureDataError(path, "", f"no array '{side}' (arrays: {', '.join(npz.files) or 'none'})")
            try:
                arr = npz[side]
            except ValueError:
                raise FeatureDataError(path, "", f"'{side}' is an object array, which numpy stores with pickle "
                                                 f"(loading it can run code from the file); store ragged "
                                                 f"sequences as one concatenated array plus '{side}_lengths', "
                                                 f"or set data.npz_allow_pickle=true for a file you trust") from None
            lengths = npz[f"{side}_lengths"] if f"{side}_lengths" in npz.files else None
            sides.append(_split_npz(path, side, kind, arr, lengths))
    if len(sides[0]) != len(sides[1]):
        raise FeatureDataError(path, "", f"{len(sides[0])} source but {len(sides[1])} target sequences")
    return list(zip(*sides))


def _split_npz(path: Path, side: str, kind: str, arr: np.ndarray, lengths: np.ndarray | None) -> list[Any]:
    if kind == "tokens":
        if arr.dtype.kind not in "UO" or arr.ndim != 1:
            raise FeatureDataError(path, "", f"'{side}' must be a 1-d array of strings for data.{side}_type=tokens, "
                                             f"got dtype {arr.dtype}, shape {arr.shape}")
        return [str(t) if isinstance(t, str) or arr.dtype.kind == "U" else t for t in arr]
    if arr.dtype == object:
        return list(arr)
    if lengths is None:
        if arr.ndim not in (2, 3):
            raise FeatureDataError(path, "", f"'{side}' of shape {arr.shape}: give (N, L) or (N, L, D), or "
                                             f"add '{side}_lengths' for ragged sequences")
        return list(arr)
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or lengths.dtype.kind not in "iu":
        raise FeatureDataError(path, "", f"'{side}_lengths' must be a 1-d integer array, got {lengths.dtype} "
                                         f"{lengths.shape}")
    n, total = len(lengths), int(lengths.sum())
    if arr.shape[0] == total and (arr.ndim in (1, 2)) and not (arr.ndim == 2 and total != n and arr.shape[0] == n):
        # Concatenated: (sum L,) scalars or (sum L, D) vectors.
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        return [arr[bounds[i]:bounds[i + 1]] for i in range(n)]
    if arr.shape[0] == n and arr.ndim in (2, 3):
        if int(lengths.max(initial=0)) > arr.shape[1]:
            i = int(np.argmax(lengths))
            raise FeatureDataError(path, f": sequence {i}", f"{side}: length {lengths[i]} exceeds the padded "
                                                             f"width {arr.shape[1]}")
        return [arr[i, : lengths[i]] for i in range(n)]
    raise FeatureDataError(path, "", f"'{side}' of shape {arr.shape} matches neither {n} padded sequences nor "
                                     f"{total} concatenated steps given by '{side}_lengths'")


def write_npz(path: str | Path, sources: Sequence[Any], targets: Sequence[Any] | None = None,
              **extra: np.ndarray) -> None:
    """Write sequences (arrays (L, D)) or texts without pickle: concatenated arrays plus `<side>_lengths`."""
    arrays: dict[str, np.ndarray] = dict(extra)
    for side, values in (("source", sources), ("target", targets)):
        if values is None:
            continue
        if all(isinstance(v, str) for v in values):
            arrays[side] = np.array(list(values), dtype=str)
        else:
            seqs = [check_sequence(v) for v in values]
            arrays[side] = np.concatenate(seqs, 0)
            arrays[f"{side}_lengths"] = np.array([len(s) for s in seqs], dtype=np.int64)
    np.savez_compressed(path, **arrays)
