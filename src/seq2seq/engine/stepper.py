"""The ONNX engine as the searches of `seq2seq.search` see it: the exported encoder and step graphs and the
target's rules over numpy arrays."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from ..search.generate import nothing_to_set_up
from ..search.hypothesis import Hypothesis
from ..search.ops import NumpyOps
from ..search.stepper import Step
from .graphs import Graphs, Tensors
from .heads import TokenRules, VectorRules


class OnnxStepper:
    """`search.generate.Engine` over exported graphs; state and memory are dicts of named arrays."""

    def __init__(self, graphs: Graphs, rules: TokenRules | VectorRules):
        self.graphs = graphs
        self.head = rules
        self.ops = NumpyOps()
        self.greedy_best = min(rules.best, getattr(rules, "vocab_size", 0))

    def encode(self, src: np.ndarray, src_lengths: np.ndarray) -> tuple[np.ndarray, Tensors, Tensors]:
        """The first decoder input, the initial state and the memory, from the encoder graph."""
        return self.graphs.encode(src, src_lengths)

    def step(self, prev: np.ndarray, state: Tensors, memory: Tensors, best: int = 0, keep_maps: bool = False) -> Step:
        """One run of the step graph; with best=K (token heads) each row's K best (log-probabilities, tokens)."""
        head_input, new_state, attention = self.graphs.step(prev, state, memory, best)
        maps = attention.astype(np.float32) if keep_maps and attention is not None else None
        return Step(head_input, new_state, maps, attention)

    def log_probs(self, head_input: np.ndarray) -> np.ndarray:
        """The step graph's token scores are log-probabilities already."""
        return head_input

    def beam_best(self, beam: int) -> int:
        """k + 1 candidates per row (one may be a barred </s>)."""
        return min(beam + 1, self.head.vocab_size)

    def take(self, tensors: Tensors, rows: np.ndarray) -> Tensors:
        """Rows of a state or memory, along each tensor's batch axis."""
        return self.graphs.take(tensors, rows)

    def source_mask(self, memory: Tensors) -> np.ndarray:
        """The exported memory's mask."""
        return memory["memory.mask"].astype(bool)

    def hypothesis(self, output: Any, score: float, maps: np.ndarray | None) -> Hypothesis:
        """A Hypothesis owning its attention."""
        return Hypothesis(output, score, None if maps is None else maps.copy())

    def pad(self, source_side: Any, sources: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        """A padded batch as the encoder graph reads it."""
        return source_side.pad_arrays(sources)

    def rng(self, seed: int) -> np.random.Generator:
        """numpy's default generator."""
        return np.random.default_rng(seed)

    def generating(self) -> contextlib.AbstractContextManager[None]:
        """Nothing to set up: the graphs are fixed."""
        return nothing_to_set_up()
