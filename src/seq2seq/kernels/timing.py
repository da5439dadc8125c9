"""Timing candidate kernels against each other in alternating rounds, within a time budget."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

Thunk = Callable[[], object]
# What the probe calls to time one class's candidates: thunks by name (and an optional "_close") and the seconds
# it may spend -> milliseconds per call by name. Tests inject their own.
Timer = Callable[[dict[str, Thunk], float], dict[str, float]]

MIN_ROUNDS = 1
MAX_ROUNDS = 9


def _clock() -> Callable[[], float]:
    """The thread's CPU time when torch computes on this thread alone (time the scheduler gives to other
    processes does not count), else the wall clock."""
    return time.thread_time if torch.get_num_threads() == 1 else time.perf_counter


def alternating(thunks: dict[str, Thunk], budget: float) -> dict[str, float]:
    """Each candidate once untimed, then rounds in alternating order (A B, B A, ...) until `budget` seconds have
    gone (at least MIN_ROUNDS): the fastest call of each, in ms. The fastest, not the mean: on a shared
    machine the slower calls measure the neighbours."""
    clock = _clock()
    close = thunks.get("_close")
    names = [n for n in thunks if not n.startswith("_")]
    best = dict.fromkeys(names, float("inf"))
    start = time.perf_counter()
    try:
        for name in names:
            thunks[name]()
        for r in range(MAX_ROUNDS):
            if r >= MIN_ROUNDS and time.perf_counter() - start >= budget:
                break
            for name in (names if r % 2 == 0 else names[::-1]):
                t0 = clock()
                thunks[name]()
                best[name] = min(best[name], clock() - t0)
    finally:
        if close is not None:
            close()
    return {n: s * 1000 for n, s in best.items()}
