"""The PyTorch engine's searches: `generate` for many inputs and greedy search, sampling and beam search for one
padded batch, each the engine-independent search of `seq2seq.search` over a `TorchStepper`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..config import DecodeConfig
from ..search import beam, steps
from ..search import generate as batched
from ..search.hypothesis import Hypothesis
from .stepper import TorchStepper


def generate(model: torch.nn.Module, source_side: Any, sources: Sequence[Any], options: DecodeConfig,
             *, keep_attention: bool = False) -> list[list[Hypothesis]]:
    """Per source (encoded: ids or an (L, D) array), its hypotheses, best first (see `search.generate`)."""
    return batched.generate(TorchStepper(model), source_side, sources, options, keep_attention=keep_attention)


@torch.inference_mode()
def greedy(model: torch.nn.Module, src: Tensor, src_lengths: Tensor, options: DecodeConfig,
           keep_attention: bool = False) -> list[Hypothesis]:
    """One hypothesis per row of a padded batch (see `search.steps.greedy`)."""
    out = steps.greedy(TorchStepper(model, src.device), src, src_lengths, options, None, keep_attention)
    return [h for h, in out]


@torch.inference_mode()
def sample(model: torch.nn.Module, src: Tensor, src_lengths: Tensor, options: DecodeConfig,
           generator: torch.Generator | None = None, keep_attention: bool = False) -> list[Hypothesis]:
    """One drawn hypothesis per row of a padded batch, with `generator` (see `search.steps.sample`)."""
    out = steps.sample(TorchStepper(model, src.device), src, src_lengths, options, generator, keep_attention)
    return [h for h, in out]


@torch.inference_mode()
def beam_search(model: torch.nn.Module, src: Tensor, src_lengths: Tensor, options: DecodeConfig,
                keep_attention: bool = False) -> list[list[Hypothesis]]:
    """decode.nbest hypotheses per row of a padded batch, best first (see `search.beam.beam_search`)."""
    return beam.beam_search(TorchStepper(model, src.device), src, src_lengths, options, None, keep_attention)


def one_best(options: DecodeConfig) -> DecodeConfig:
    """The same options asking for one hypothesis per input (what metrics score)."""
    return options if options.nbest == 1 else dataclasses.replace(options, nbest=1)
