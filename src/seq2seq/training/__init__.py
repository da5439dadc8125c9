"""Training: run preparation, the loop, schedules and checkpoints (see each module)."""

from .interrupt import TrainingInterrupted
from .loop import Trainer, TrainingError, train
from .runtime import pick_device
from .schedule import Progress

__all__ = ["Progress", "Trainer", "TrainingError", "TrainingInterrupted", "pick_device", "train"]
