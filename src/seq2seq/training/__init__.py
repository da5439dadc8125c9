"""Training: run preparation, the loop, schedules, checkpoints, data parallelism and why a run stopped (see each
module). The torch parts load on first use, so that the command line can import `training.stopping` without
torch."""

from typing import Any

from ..runs.atomic import WriteRefused
from ..runs.lock import RunLocked
from .stopping import TrainingError, TrainingInterrupted

__all__ = ["Progress", "RunLocked", "Trainer", "TrainingError", "TrainingInterrupted", "WriteRefused", "pick_device",
           "train"]


def __getattr__(name: str) -> Any:
    """`Trainer`, `train`, `pick_device` and `Progress` import torch: load them when first asked for."""
    if name in ("Trainer", "train"):
        from . import loop

        return getattr(loop, name)
    if name == "pick_device":
        from .runtime import pick_device

        return pick_device
    if name == "Progress":
        from .schedule import Progress

        return Progress
    raise AttributeError(f"module 'seq2seq.training' has no attribute {name!r}")
