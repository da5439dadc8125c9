"""A trained model with its config and both sides: what a checkpoint directory holds, how it is rebuilt, and the
folder an export of it is written into."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..config import Config
from ..data.sides import Side
from ..kernels.allocator import keep_freed_memory
from ..models import Seq2Seq, build_model
from .atomic import current_umask
from .checkpoint import (
    CHECKPOINT_VERSION,
    MODEL_FILE,
    MODEL_JSON,
    CheckpointError,
    load_state_into,
    save_tensors,
)
from .checksums import verify_checkpoint
from .directory import moved, read_checkpoint, resolved_checkpoint


@dataclass
class Bundle:
    """Config + model + source/target sides, saved and loaded together."""

    config: Config
    model: Seq2Seq
    source: Side
    target: Side

    def save_into(self, directory: Path, extra: dict[str, Any] | None = None) -> None:
        """Write weights, the config (model.json, so the directory rebuilds the model on its own) and both
        sides' files into `directory`."""
        meta = {"format_version": CHECKPOINT_VERSION, "config": self.config.to_dict(),
                "source_size": self.source.size, "target_size": self.target.size,
                "parameters": sum(p.numel() for p in self.model.parameters()), **(extra or {})}
        save_tensors(self.model.state_dict(), directory / MODEL_FILE)
        (directory / MODEL_JSON).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
        self.source.save(directory, "source")
        self.target.save(directory, "target")


@contextlib.contextmanager
def export_dir(bundle: Bundle, out: Path) -> Iterator[Path]:
    """A temporary folder beside `out` to write an export of `bundle` into, with the model in eval mode; when the
    block ends, both sides' files are added and the folder replaces `out` whole (a failing block leaves `out` as it
    was). The model's training mode is restored either way."""
    model, was_training = bundle.model, bundle.model.training
    model.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=out.parent))
    try:
        yield tmp
        bundle.source.save(tmp, "source")
        bundle.target.save(tmp, "target")
        tmp.chmod(0o777 & ~current_umask())  # mkdtemp's 0700 would keep an export from being shared like any file
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        model.train(was_training)
        shutil.rmtree(tmp, ignore_errors=True)


def assemble(cfg: Config, source: Side, target: Side) -> Bundle:
    """The model a config and two fitted (or loaded) sides describe, freshly initialised."""
    return Bundle(cfg, build_model(cfg, source.size, target.size), source, target)


# Format 1 kept the embedding and output layers on the decoder and the start vector on the model.
_V1_NAMES = (("encoder.embed.", "encoder.input."), ("decoder.embed.", "decoder.head.input."),
             ("decoder.out.", "decoder.head.output."), ("decoder.out_bias", "decoder.head.output_bias"),
             ("decoder.tie_proj.", "decoder.head.tie_proj."),
             ("decoder.combine.", "decoder.attentional_output.combine."),
             ("start", "decoder.head.start_vector"))


def upgrade_v1(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights of a format 1 checkpoint under today's names."""
    out = {}
    for name, value in tensors.items():
        for old, new in _V1_NAMES:
            if name == old or (old.endswith(".") and name.startswith(old)):
                name = new + name[len(old):]
                break
        out[name] = value
    return out


def load_bundle(run_dir: str | Path, which: str = "best", device: str | torch.device = "cpu") -> Bundle:
    """Load a run directory's checkpoint (best by default) without running any pickled code, its files checked
    against the SHA-256 recorded when it was written (ChecksumError naming a damaged one).

    Takes no lock: a run may be training meanwhile. When the trainer rotates the checkpoint away while it is
    read, `best`/`last` is followed again, once."""
    keep_freed_memory()  # decoding makes the same large tensors again and again (see kernels/allocator.py)
    for attempt in range(2):
        ckpt = resolved_checkpoint(run_dir, which)
        try:
            verify_checkpoint(ckpt)
            version, cfg, source, target = read_checkpoint(ckpt)
            bundle = assemble(cfg, source, target)
            load_state_into(bundle.model, ckpt / MODEL_FILE, upgrade_v1 if version == 1 else None)
            break
        except (CheckpointError, OSError):
            if attempt or not moved(run_dir, which, ckpt):
                raise
    bundle.model.to(device).eval()
    return bundle
