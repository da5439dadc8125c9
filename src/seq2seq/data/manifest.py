"""The manifest of a preprocessed data directory (`seq2seq preprocess`): what it holds, and the data settings it
was made with, which a run training from it must share."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..config import Config, ConfigError

MANIFEST = "manifest.json"
KIND = "seq2seq-preprocessed"
# 2: valid/test splits keep their raw reference lines (`references` in a split's entry); 1 kept token ids only.
FORMAT_VERSION = 2

# The data settings that shape the shards' ids and counts. Input reversal is not among them: shards keep the
# reading order and the source is reversed when a batch is taken, so one directory serves both variants.
ENCODING_KEYS = ("format", "source_suffix", "target_suffix", "tokenizer", "source_tokenizer", "target_tokenizer",
                 "word_split", "lowercase", "sentencepiece_type", "sentencepiece_vocab_size", "min_freq",
                 "max_vocab_size", "shared_vocab", "source_vocab", "target_vocab", "max_source_length",
                 "max_target_length", "skip_invalid", "source_type", "target_type")


def encoding_settings(cfg: Config) -> dict[str, Any]:
    """The config's values of ENCODING_KEYS."""
    return {key: getattr(cfg.data, key) for key in ENCODING_KEYS}


def settings_hash(settings: dict[str, Any]) -> str:
    """A short, stable hash of the encoding settings (shown in the manifest; equal settings, equal hash)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of a complete preprocessed directory; ConfigError naming the directory otherwise."""
    directory = Path(directory)
    path = directory / MANIFEST
    partial = directory.with_name(directory.name + ".partial")
    if not path.is_file():
        hint = (f"; {partial} holds an interrupted preprocessing: run the same `seq2seq preprocess` again to finish it"
                if partial.exists() else "; make one with `seq2seq preprocess`")
        raise ConfigError(f"data.preprocessed: {directory} is not a preprocessed data directory (no {MANIFEST}){hint}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read the manifest: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != KIND:
        raise ConfigError(f"{path}: not a seq2seq preprocessed-data manifest")
    version = manifest.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ConfigError(f"{path}: format version {version!r} is newer than this seq2seq understands "
                          f"({FORMAT_VERSION})")
    return manifest


def check_settings(cfg: Config, manifest: dict[str, Any], directory: str | Path) -> None:
    """ConfigError naming the first data setting of `cfg` that differs from the one the directory was made with."""
    made = manifest["data"]
    for key, value in encoding_settings(cfg).items():
        if made.get(key) != value:
            raise ConfigError(f"data.{key}: {directory} was preprocessed with {made.get(key)!r}, this run asks for "
                              f"{value!r}; leave the setting out (a run takes the directory's settings) or "
                              f"preprocess again with it")


def data_overrides(directory: str | Path) -> dict[str, Any]:
    """The directory's data settings as `data.key` overrides: the layer a run from it starts from."""
    return {f"data.{key}": value for key, value in read_manifest(directory)["data"].items()}
