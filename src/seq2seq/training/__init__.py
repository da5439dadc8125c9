"""Training: run preparation, the loop, schedules and checkpoints (see each module)."""

from .loop import Trainer, TrainingError, train
from .runtime import pick_device
from .schedule import Progress

__all__ = ["Progress", "Trainer", "TrainingError", "pick_device", "train"]
