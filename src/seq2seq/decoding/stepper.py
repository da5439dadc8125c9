"""The PyTorch engine as the searches of `seq2seq.search` see it: a model's encoder, step and head over torch
tensors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from ..models.coverage import average_heads
from ..models.linear import packed_weights
from ..search.hypothesis import Hypothesis
from ..search.stepper import Step
from ..search.torch_ops import TorchOps
from .maps import step_maps, with_maps


class TorchStepper:
    """`search.generate.Engine` over a PyTorch model (a Seq2Seq or an Ensemble), its tensors on `device`."""

    greedy_best = 0  # greedy reads the whole step output

    def __init__(self, model: torch.nn.Module, device: torch.device | None = None):
        self.model = model
        self.head = model.head
        self.weights = next(model.parameters())
        self.device = self.weights.device if device is None else device
        self.ops = TorchOps(self.device)

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, Any, Any]:
        """The head's first input, the initial decoder state and the memory."""
        state, memory = self.model.init_state(self.model.encode(src, src_lengths))
        return self.head.start(src.size(0), self.device), state, memory

    def step(self, prev: Tensor, state: Any, memory: Any, best: int = 0, keep_maps: bool = False) -> Step:
        """One decoder step (the whole output: `best` is for engines whose steps select candidates)."""
        out = self.model.step(prev, state, memory)
        weights = None if out.attention is None else average_heads(out.attention.float(), out.attention.dim() == 3)
        return Step(out.scores, out.state, step_maps(out) if keep_maps else None, weights)

    def log_probs(self, head_input: Tensor) -> Tensor:
        """The step's scores as log-probabilities (float32)."""
        return head_input.float().log_softmax(-1)

    def beam_best(self, beam: int) -> int:
        """Beam search reads every token's log-probability."""
        return 0

    def take(self, tensors: Any, rows: Tensor) -> Any:
        """Rows of a decoder state or memory."""
        return tensors.index_select(rows)

    def source_mask(self, memory: Any) -> Tensor:
        """The memory's mask (an ensemble's members share one source)."""
        return memory.mask if hasattr(memory, "mask") else memory.members[0].mask

    def hypothesis(self, output: Any, score: float, maps: Tensor | None) -> Hypothesis:
        """A Hypothesis with the kept maps split into the mean and each head's."""
        return with_maps(output, score, maps)

    def pad(self, source_side: Any, sources: list[Any]) -> tuple[Tensor, Tensor]:
        """A padded source batch on the weights' device; vectors (padded as float32) in the weights' dtype too
        (a model moved to float64)."""
        src, lengths = source_side.pad(sources)
        return model_input(src, self.weights), lengths.to(self.device)

    def rng(self, seed: int) -> torch.Generator:
        """A torch generator on the model's device."""
        generator = torch.Generator(device=self.device)
        generator.manual_seed(seed)
        return generator

    @contextlib.contextmanager
    def generating(self) -> Iterator[None]:
        """The model in eval mode (its training mode restored after), weights packed, no autograd."""
        was_training = self.model.training
        self.model.eval()
        try:
            with packed_weights(), torch.inference_mode():
                yield
        finally:
            self.model.train(was_training)


def model_input(src: Tensor, weights: Tensor) -> Tensor:
    """A padded source batch on the weights' device; vectors (padded as float32) in the weights' dtype too (a
    model moved to float64)."""
    return src.to(weights.device, weights.dtype) if src.is_floating_point() else src.to(weights.device)
