"""The Python API of the PyTorch engine: `Model` over a run directory's checkpoint (`seq2seq.load` picks the
engine; see `loading`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .bundle import Bundle, load_bundle
from .config import DecodeConfig
from .decoding import Hypothesis, generate
from .translation import InputError, InputTooLong, Translation, Translator

__all__ = ["InputError", "InputTooLong", "Model", "Translation", "load"]


class Model(Translator):
    """A trained model on PyTorch; `seq2seq.load(run_dir)` returns one."""

    engine = "torch"

    def __init__(self, bundle: Bundle):
        super().__init__(bundle.config, bundle.source, bundle.target)
        self.bundle = bundle
        self.net = bundle.model

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return next(self.net.parameters()).device

    @property
    def parameter_count(self) -> int:
        """The model's number of weights."""
        return sum(p.numel() for p in self.net.parameters())

    def to(self, device: str | torch.device) -> Model:
        """Move the weights (e.g. to "cuda"); returns self."""
        self.net.to(device)
        return self

    def generate(self, sources: Sequence[Any], options: DecodeConfig,
                 keep_attention: bool = False) -> list[list[Hypothesis]]:
        """Per encoded source, its hypotheses best first, with attention when asked."""
        return generate(self.net, self.source, sources, options, keep_attention=keep_attention)


def load(run_dir: str | Path, which: str = "best", device: str | torch.device = "cpu") -> Model:
    """Load a trained model from a run directory (`checkpoints/best` unless which="last")."""
    return Model(load_bundle(run_dir, which=which, device=device))
