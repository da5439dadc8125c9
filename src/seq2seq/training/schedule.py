"""Learning-rate schedules and the bookkeeping of evaluations: best value, plateau cuts, early stopping."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..config import TrainConfig

LOWER_IS_BETTER = {"valid_loss", "valid_mae", "valid_rmse", "valid_cer"}


@dataclass
class Progress:
    """Everything besides tensors that a resumed run needs to continue exactly."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best: float | None = None
    bad_evals: int = 0
    lr_scale: float = 1.0
    seconds: float = 0.0
    finished: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)

    def tracked(self, t: TrainConfig) -> str:
        """The metric the best checkpoint and early stopping follow (see `tracked_metric`)."""
        return tracked_metric(t, self.history[-1] if self.history else None)

    def record(self, metrics: dict[str, Any], t: TrainConfig) -> bool:
        """Note an evaluation: returns whether it is the best so far; counts evaluations without improvement
        for the plateau schedule (lr_scale) and early stopping (finished)."""
        self.history.append(metrics)
        name = tracked_metric(t, metrics)
        value, lower = metrics[name], name in LOWER_IS_BETTER
        if self.best is None or (value < self.best if lower else value > self.best):
            self.best, self.bad_evals = value, 0
            return True
        self.bad_evals += 1
        if t.schedule == "plateau" and self.bad_evals % (t.plateau_patience + 1) == 0:
            self.lr_scale *= t.plateau_factor
        if t.patience and self.bad_evals >= t.patience:
            self.finished = True
        return False


def tracked_metric(t: TrainConfig, record: dict[str, Any] | None) -> str:
    """The metric that picks the best checkpoint: train.early_stopping_metric, or valid_loss when the
    evaluation `record` does not report it (None: before the first evaluation)."""
    if record is None or t.early_stopping_metric in record:
        return t.early_stopping_metric
    return "valid_loss"


def lr_factor(t: TrainConfig, step: int, total_steps: int, lr_scale: float) -> float:
    """The multiplier of train.lr at `step` (0-based): linear warm-up, then inverse square root (Vaswani et al.
    2017) or linear decay to 0 at `total_steps`; constant and plateau use `lr_scale` (cut on plateaus)."""
    warm = max(t.warmup_steps, 1)
    if t.schedule == "inverse_sqrt":
        return min((step + 1) / warm, math.sqrt(warm / (step + 1)))
    if t.schedule == "linear":
        total = max(total_steps, 1)
        return min((step + 1) / warm, max(0.0, (total - step) / max(total - warm, 1)))
    return lr_scale
