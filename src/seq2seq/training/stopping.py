"""Why a training run stopped before its end: an error it cannot go on from, or a signal. Kept free of torch so
the command line can report them in a process that has none."""

from __future__ import annotations


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); the last good checkpoint is intact."""


class TrainingInterrupted(Exception):
    """Training stopped on a signal after writing a checkpoint; `signum` is the signal, the message says how to
    resume."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = signum
