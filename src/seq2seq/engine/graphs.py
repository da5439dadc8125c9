"""The exported encoder and step graphs on onnxruntime, with the decoder state and memory as named numpy arrays.

What the engine knows of a model's tensors is what `export.json` says: the graphs' input and output names
and each state or memory tensor's batch axis, which is all a search needs to reorder, repeat or drop rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from ..runs.directory import NEXT

Tensors = dict[str, np.ndarray]  # "state.hidden", "memory.keys", ... -> array


def session_options(threads: int | None) -> ort.SessionOptions:
    """All graph optimisations; `threads` intra-op threads (None: onnxruntime's default) and no inter-op pool,
    since the graphs are one chain of operators."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    return options


class Graphs:
    """encode(src, lengths) -> (first decoder input, state and memory); step(prev, state, memory) -> (scores,
    new state, attention or None), or with `best=K` (token heads) each row's K best (log-probabilities, tokens)
    in place of the scores; take(tensors, rows) selects batch rows of state or memory."""

    def __init__(self, directory: Path, manifest: dict[str, Any], threads: int | None = None):
        options = session_options(threads)
        providers = ["CPUExecutionProvider"]
        self.encoder = ort.InferenceSession(str(directory / manifest["encoder"]["file"]), options, providers=providers)
        self.stepper = ort.InferenceSession(str(directory / manifest["step"]["file"]), options, providers=providers)
        self.encoder_outputs: list[str] = manifest["encoder"]["outputs"]
        self.step_inputs: list[str] = manifest["step"]["inputs"]
        self.step_outputs: list[str] = manifest["step"]["outputs"]
        self.batch_axis: dict[str, int] = manifest["batch_axis"]
        self.state_outputs = [n for n in self.step_outputs if n.startswith(NEXT)]
        self.attention_outputs = ["attention"] if "attention" in self.step_outputs else []

    def encode(self, src: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, Tensors, Tensors]:
        """src: (B, S) int64 ids or (B, S, D) float32 vectors; lengths: (B,) int64.
        Returns the first decoder input (B,) or (B, D), the state and the memory."""
        out = dict(zip(self.encoder_outputs, self.encoder.run(None, {"src": src, "src_lengths": lengths})))
        state = {k: v for k, v in out.items() if k.startswith("state.")}
        memory = {k: v for k, v in out.items() if k.startswith("memory.")}
        return out["start"], state, memory

    def step(self, prev: np.ndarray, state: Tensors, memory: Tensors,
             best: int = 0) -> tuple[Any, Tensors, np.ndarray | None]:
        """prev: (B,) tokens or (B, D) vectors. Returns scores (B, V) log-probabilities or (B, D[+1]) vectors -
        or with best=K the (B, K) best log-probabilities and their tokens, largest first - the new state and
        attention (B, S') or None."""
        feeds = {"prev": prev, "candidates": self._candidates(best), **state, **memory}
        wanted = ["top_scores", "top_tokens"] if best else ["scores"]
        names = wanted + self.state_outputs + self.attention_outputs
        out = dict(zip(names, self.stepper.run(names, {n: feeds[n] for n in self.step_inputs})))
        new_state = {k[len(NEXT):]: out[k] for k in self.state_outputs}
        scores = (out["top_scores"], out["top_tokens"]) if best else out["scores"]
        return scores, new_state, out.get("attention")

    @staticmethod
    def _candidates(best: int) -> np.ndarray:
        """The `candidates` input: only its length counts (at least 1, so that the graph is valid)."""
        return np.zeros(max(best, 1), dtype=np.float32)

    def take(self, tensors: Tensors, rows: np.ndarray) -> Tensors:
        """The batch rows `rows` (K,) of every tensor."""
        return {k: np.take(v, rows, axis=self.batch_axis[k]) for k, v in tensors.items()}
