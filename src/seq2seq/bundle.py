"""A trained model with its config and text sides: what a checkpoint directory holds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .checkpoint import (CHECKPOINT_VERSION, MODEL_FILE, MODEL_JSON, CheckpointError, checkpoint_dir,
                         load_state_into, read_json, save_tensors)
from .config import Config, ConfigError, build_config
from .data.corpus import Side, load_sides
from .models import build_model


@dataclass
class Bundle:
    """Config + model + source/target sides, saved and loaded together."""

    config: Config
    model: torch.nn.Module
    source: Side  # TextSide, or FeatureSide for data.source_type=features (likewise target)
    target: Side

    def save_into(self, directory: Path, extra: dict[str, Any] | None = None) -> None:
        """Write weights, architecture JSON and both sides' vocab/tokenizer files into `directory`."""
        meta = {"format_version": CHECKPOINT_VERSION, "config": self.config.to_dict(),
                # For a feature side the "vocabulary size" is its vector size.
                "source_vocab_size": self.source.size, "target_vocab_size": self.target.size,
                "parameters": sum(p.numel() for p in self.model.parameters()), **(extra or {})}
        save_tensors(self.model.state_dict(), directory / MODEL_FILE)
        (directory / MODEL_JSON).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
        self.source.save(directory, "source")
        self.target.save(directory, "target")


def load_bundle(run_dir: str | Path, which: str = "best", device: str | torch.device = "cpu") -> Bundle:
    """Load a run directory's checkpoint (best by default) without running any pickled code."""
    ckpt = checkpoint_dir(run_dir, which)
    meta = read_json(ckpt / MODEL_JSON)
    version = meta.get("format_version")
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise CheckpointError(f"{ckpt / MODEL_JSON}: checkpoint format version {version!r} is newer than this "
                              f"seq2seq understands ({CHECKPOINT_VERSION}); upgrade seq2seq")
    try:
        cfg = build_config(overrides=_flatten(meta["config"]))
    except (KeyError, ConfigError) as e:
        raise CheckpointError(f"{ckpt / MODEL_JSON}: invalid config ({e})") from None
    cfg.preset = meta["config"].get("preset")
    try:
        source, target = load_sides(cfg, ckpt)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{ckpt}: cannot load vocabulary/tokenizer ({e})") from None
    for side, key in ((source, "source_vocab_size"), (target, "target_vocab_size")):
        if side.size != meta.get(key):
            raise CheckpointError(f"{ckpt}: {key.split('_')[0]} vocabulary has {side.size} entries but "
                                  f"{MODEL_JSON} says {meta.get(key)}: the vocab does not match the weights")
    model = build_model(cfg, source.size, target.size)
    load_state_into(model, ckpt / MODEL_FILE)
    model.to(device).eval()
    return Bundle(cfg, model, source, target)


def _flatten(config: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for section, values in config.items():
        if isinstance(values, dict):
            out.update({f"{section}.{k}": v for k, v in values.items()})
    return out
