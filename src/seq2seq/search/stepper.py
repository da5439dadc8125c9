"""What a search asks of an engine's model: `Stepper`, one per engine (`decoding.stepper.TorchStepper` over a
PyTorch model, `engine.stepper.OnnxStepper` over the exported graphs), and the `Step` it returns."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from .hypothesis import Hypothesis
from .ops import Array, ArrayOps


class Step(NamedTuple):
    """One decoder step of the rows still searched.

    head_input: what the head's `choose` reads (the step's output: logits or log-probabilities over the
    vocabulary, vectors, or with `best=K` each row's K best (log-probabilities, tokens)); state: the new decoder
    state; maps: the step's attention as the search keeps it (None unless asked for, or without attention);
    weights: the step's attention weights (rows, S) averaged over heads (for the coverage penalty), or None.
    """

    head_input: Any
    state: Any
    maps: Array | None
    weights: Array | None


class Stepper(Protocol):
    """An engine's model as the searches see it: `ops` (its arrays), `head` (the target's generation rules:
    `caps`, `choose`, `blank`, `finish`), and the methods below."""

    ops: ArrayOps
    head: Any
    greedy_best: int  # the candidates per row greedy search asks a step for (0: the whole output)

    def encode(self, src: Array, src_lengths: Array) -> tuple[Array, Any, Any]:
        """The first decoder input (B, ...), the initial decoder state and the memory of a padded batch."""

    def step(self, prev: Array, state: Any, memory: Any, best: int = 0, keep_maps: bool = False) -> Step:
        """One decoder step; with `best=K` (token targets) the head input is each row's K best candidates."""

    def log_probs(self, head_input: Array) -> Array:
        """A step's whole output as log-probabilities over the vocabulary (rows, V), float32."""

    def beam_best(self, beam: int) -> int:
        """The candidates per row beam search of width `beam` asks a step for (0: the whole output)."""

    def take(self, tensors: Any, rows: Array) -> Any:
        """The batch rows `rows` of a decoder state or memory."""

    def source_mask(self, memory: Any) -> Array:
        """(rows, S) bool: True at the real positions attention reads."""

    def hypothesis(self, output: Any, score: float, maps: Array | None) -> Hypothesis:
        """A Hypothesis from one row's output, score and kept maps (steps, ...)."""
