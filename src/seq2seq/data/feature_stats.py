"""Per-dimension mean and standard deviation of feature sequences, accumulated one sequence at a time (Chan,
Golub and LeVeque's pairwise update, 1979), so that a corpus never held in memory gets the statistics a list of
its sequences gets: both paths feed the same sequences in the same order through the same update."""

from __future__ import annotations

from typing import Any

import numpy as np


class FeatureStats:
    """Running count, mean and sum of squared deviations (float64) over every step of the sequences added."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None

    @property
    def dim(self) -> int | None:
        """The vector size, None before the first sequence."""
        return None if self.mean is None else len(self.mean)

    def add(self, sequence: np.ndarray) -> None:
        """Fold in one (L, D) sequence."""
        steps = np.asarray(sequence, dtype=np.float64).reshape(len(sequence), -1)
        n = len(steps)
        if not n:
            return
        mean = steps.mean(0)
        m2 = ((steps - mean) ** 2).sum(0)
        if self.mean is None or self.m2 is None:
            self.count, self.mean, self.m2 = n, mean, m2
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta * delta * (self.count * n / total)
        self.count = total

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) as float32; a constant dimension gets std 1 (it is centred only, never divided by zero)."""
        if self.mean is None or self.m2 is None:
            raise ValueError("no feature steps to compute statistics from")
        std = np.sqrt(self.m2 / self.count)
        std = np.where(std < 1e-6, 1.0, std)
        return self.mean.astype(np.float32), std.astype(np.float32)

    def state(self) -> dict[str, Any]:
        """The accumulator as JSON values that read back exactly (float64 as hex)."""
        if self.mean is None or self.m2 is None:
            return {"count": 0}
        return {"count": self.count, "mean": [float(v).hex() for v in self.mean],
                "m2": [float(v).hex() for v in self.m2]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FeatureStats:
        """Inverse of `state`."""
        stats = cls()
        if state.get("count"):
            stats.count = int(state["count"])
            stats.mean = np.array([float.fromhex(v) for v in state["mean"]], dtype=np.float64)
            stats.m2 = np.array([float.fromhex(v) for v in state["m2"]], dtype=np.float64)
        return stats
