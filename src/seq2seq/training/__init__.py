"""Training: run preparation, the loop, schedules and checkpoints (see each module)."""

from ..atomic import WriteRefused
from ..runlock import RunLocked
from ..stopping import TrainingError, TrainingInterrupted
from .loop import Trainer, train
from .runtime import pick_device
from .schedule import Progress

__all__ = ["Progress", "RunLocked", "Trainer", "TrainingError", "TrainingInterrupted", "WriteRefused", "pick_device",
           "train"]
