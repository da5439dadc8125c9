"""Run directories and exported directories: where a checkpoint lives, what marks an export, and how their JSON
is read - without torch, so that commands and the ONNX engine can tell them apart in a process that has none."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..config import Config, ConfigError
from ..config.build import config_from_dict
from ..data.corpus import load_sides
from ..data.sides import Side

# 2: the output head's weights live under decoder.head (format 1 checkpoints are renamed on loading).
CHECKPOINT_VERSION = 2
MODEL_FILE = "model.safetensors"
MODEL_JSON = "model.json"
TRAINER_FILE = "trainer.safetensors"
TRAINER_JSON = "trainer.json"
EXPORT_JSON = "export.json"  # what marks a directory written by `seq2seq export`
NEXT = "next."  # an exported step graph's new state is `next.state.*` (an output may not share an input's name)


class CheckpointError(RuntimeError):
    """A run directory or checkpoint that cannot be used; the message names the file."""


def checkpoint_dir(run_dir: str | Path, which: str = "best") -> Path:
    """The directory of `checkpoints/<which>` in a run directory, checked to exist and to lie inside the run
    directory (`best` falls back to `last` when a run has no best yet)."""
    run = Path(run_dir)
    if not run.is_dir():
        raise CheckpointError(f"{run}: no such run directory")
    path = run / "checkpoints" / which
    if path.is_symlink() and not path.exists():
        raise CheckpointError(f"{path}: dangling link (to {os.readlink(path)}, which does not exist); the run "
                              f"directory is damaged" + ("; try the last checkpoint" if which == "best" else ""))
    if not (path / MODEL_JSON).is_file():
        other = run / "checkpoints" / ("last" if which == "best" else "best")
        if which == "best" and not path.is_symlink() and (other / MODEL_JSON).is_file():
            return checkpoint_dir(run, "last")
        raise CheckpointError(f"{run}: not a run directory (no checkpoints/{which}/{MODEL_JSON}); "
                              f"pass the DIR given to `seq2seq train --out DIR`")
    _check_inside(run, path)
    return path


def resolved_checkpoint(run_dir: str | Path, which: str = "best") -> Path:
    """`checkpoint_dir` with the link followed: the step folder itself, so that every file is read from one
    checkpoint even when a trainer moves `best` or `last` meanwhile."""
    path = checkpoint_dir(run_dir, which)
    return path.resolve() if path.is_symlink() else path


def moved(run_dir: str | Path, which: str, seen: Path) -> bool:
    """Whether `checkpoints/<which>` now names another folder than `seen` (a trainer rotated it meanwhile)."""
    try:
        return resolved_checkpoint(run_dir, which) != seen
    except CheckpointError:
        return False


def _check_inside(run: Path, path: Path) -> None:
    """Refuse a checkpoint (or a file in it) that resolves outside the run directory: weights are read, and
    resumed runs write, only where the run directory is."""
    root = run.resolve()
    for item in (path, *path.iterdir()):
        if not item.resolve().is_relative_to(root):
            raise CheckpointError(f"{item}: resolves to {item.resolve()}, outside the run directory {run}; "
                                  f"refusing to follow it")


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object, naming the file on any failure."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


def is_exported(path: str | Path) -> bool:
    """Whether `path` is a directory written by `seq2seq export` (rather than a run directory)."""
    return (Path(path) / EXPORT_JSON).is_file()


def checkpoint_version(ckpt: Path, meta: dict[str, Any]) -> int:
    """The format version a checkpoint's model.json declares, refused if newer than this seq2seq reads."""
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > CHECKPOINT_VERSION:
        raise CheckpointError(f"{ckpt / MODEL_JSON}: checkpoint format version {version!r} is newer than this "
                              f"seq2seq understands ({CHECKPOINT_VERSION}); upgrade seq2seq")
    return version


def checkpoint_config(ckpt: Path, meta: dict[str, Any] | None = None, meta_file: str = MODEL_JSON) -> Config:
    """The config a checkpoint (or an export) was written with: its `meta_file`, read here unless given as
    `meta`."""
    meta = read_json(ckpt / meta_file) if meta is None else meta
    try:
        return config_from_dict(meta["config"])
    except (KeyError, TypeError, AttributeError, ConfigError) as e:
        raise CheckpointError(f"{ckpt / meta_file}: invalid config ({e})") from None


def read_checkpoint(ckpt: Path) -> tuple[int, Config, Side, Side]:
    """What one checkpoint folder says besides its weights: the format version, the config and both sides."""
    meta = read_json(ckpt / MODEL_JSON)
    version = checkpoint_version(ckpt, meta)
    return (version, *load_config_and_sides(ckpt, meta, MODEL_JSON))


def load_config_and_sides(directory: Path, meta: dict[str, Any], meta_file: str) -> tuple[Config, Side, Side]:
    """The config and both sides a checkpoint or an export directory holds, checked against the side sizes its
    `meta_file` (model.json, export.json), read as `meta`, records."""
    cfg = checkpoint_config(directory, meta, meta_file)
    try:
        source, target = load_sides(cfg, directory)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{directory}: cannot load vocabulary/tokenizer ({e})") from None
    for side, name in ((source, "source"), (target, "target")):
        saved = meta.get(f"{name}_size", meta.get(f"{name}_vocab_size"))
        if side.size != saved:
            raise CheckpointError(f"{directory}: the {name} side has {side.size} entries but {meta_file} says "
                                  f"{saved}: the vocabulary does not match the weights")
    return cfg, source, target


def load_export(directory: Path, manifest: dict[str, Any], fmt: str, engine: str,
                newest: int) -> tuple[Config, Side, Side]:
    """The config and both sides of an export directory whose export.json, read as `manifest`, must declare the
    format `fmt` (written for `engine`, as the error names it) at a version no newer than `newest`."""
    path = directory / EXPORT_JSON
    if manifest.get("format") != fmt:
        raise CheckpointError(f"{path}: not a seq2seq {engine} export (format {manifest.get('format')!r})")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > newest:
        raise CheckpointError(f"{path}: export format version {version!r} is newer than this seq2seq "
                              f"understands ({newest}); upgrade seq2seq")
    return load_config_and_sides(directory, manifest, EXPORT_JSON)
