"""Training: run preparation, the loop, schedules and checkpoints (see each module)."""

from ..stopping import TrainingError, TrainingInterrupted
from .loop import Trainer, train
from .runtime import pick_device
from .schedule import Progress

__all__ = ["Progress", "Trainer", "TrainingError", "TrainingInterrupted", "pick_device", "train"]
