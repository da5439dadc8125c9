"""Generation for many inputs: batched by length, one strategy of the decoding options, results in input order."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch

from ..config import DecodeConfig
from ..config.overrides import with_seed
from ..data.batching import sort_for_inference
from ..data.copying import resolve
from ..models.linear import packed_weights
from ..search.hypothesis import Hypothesis
from .beam import beam_search
from .greedy import greedy
from .sampling import sample


def generate(model: torch.nn.Module, source_side: Any, sources: Sequence[Any], options: DecodeConfig,
             *, keep_attention: bool = False) -> list[list[Hypothesis]]:
    """Per source (encoded: ids or an (L, D) array), its hypotheses, best first: decode.nbest of them for
    beam search and sampling (independent draws, the i-th with seed decode.seed + i; a fresh seed when it is
    null), one for greedy. Sources are padded by their side (`source_side.pad`) in batches of decode.batch_size,
    longest first; a copy model's outputs hold the copied words themselves in place of extended ids."""
    options = with_seed(options)
    weights = next(model.parameters())
    device = weights.device
    results: list[list[Hypothesis]] = [[] for _ in sources]
    draws = options.nbest if options.strategy == "sample" else 1
    was_training = model.training
    model.eval()
    try:
        with packed_weights():
            for draw in range(draws):
                generator = None
                if options.strategy == "sample":
                    generator = torch.Generator(device=device)
                    generator.manual_seed(options.seed + draw)
                for idx in sort_for_inference([len(s) for s in sources], options.batch_size):
                    src, lengths = source_side.pad([sources[i] for i in idx])
                    src, lengths = like_weights(src, weights), lengths.to(device)
                    if options.strategy == "beam":
                        out = beam_search(model, src, lengths, options, keep_attention)
                    elif options.strategy == "sample":
                        out = [[h] for h in sample(model, src, lengths, options, generator, keep_attention)]
                    else:
                        out = [[h] for h in greedy(model, src, lengths, options, keep_attention)]
                    for row, i in enumerate(idx):
                        for h in out[row]:
                            h.output = resolve(source_side, h.output, sources[i])
                            if h.attention is not None:
                                h.attention = h.attention[:, : len(sources[i])]
                            if h.head_attention is not None:
                                h.head_attention = h.head_attention[..., : len(sources[i])]
                        results[i].extend(out[row])
    finally:
        model.train(was_training)
    return results


def like_weights(src: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """A padded source batch on the weights' device; vectors (padded as float32) in the weights' dtype too
    (a model moved to float64)."""
    return src.to(weights.device, weights.dtype) if src.is_floating_point() else src.to(weights.device)


def single(options: DecodeConfig) -> DecodeConfig:
    """The same options asking for one hypothesis per input (what metrics score)."""
    return options if options.nbest == 1 else dataclasses.replace(options, nbest=1)
