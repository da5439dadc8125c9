"""Generation for many inputs on the ONNX engine: the twin of `decoding.generate` (batched by length, one
strategy of the decoding options, results in input order)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..config import DecodeConfig
from ..data.batching import sort_for_inference
from ..data.copying import resolve
from ..search.hypothesis import Hypothesis
from .beam import beam_search
from .graphs import Graphs
from .heads import TokenRules, VectorRules
from .stepping import greedy, sample


def generate(graphs: Graphs, rules: TokenRules | VectorRules, source_side: Any, sources: Sequence[Any],
             options: DecodeConfig, *, keep_attention: bool = False) -> list[list[Hypothesis]]:
    """Per source (encoded: ids or an (L, D) array), its hypotheses, best first: decode.nbest of them for beam
    search and sampling (independent draws, the i-th seeded decode.seed + i), one for greedy. Sources are padded
    by their side (`source_side.pad_arrays`) in batches of decode.batch_size, longest first; a copy model's
    outputs hold the copied words themselves in place of extended ids."""
    results: list[list[Hypothesis]] = [[] for _ in sources]
    draws = options.nbest if options.strategy == "sample" else 1
    for draw in range(draws):
        rng = np.random.default_rng(options.seed + draw) if options.strategy == "sample" else None
        for idx in sort_for_inference([len(s) for s in sources], options.batch_size):
            src, lengths = source_side.pad_arrays([sources[i] for i in idx])
            if options.strategy == "beam":
                out = beam_search(graphs, rules, src, lengths, options, keep_attention)
            elif options.strategy == "sample":
                out = [[h] for h in sample(graphs, rules, src, lengths, options, rng, keep_attention)]
            else:
                out = [[h] for h in greedy(graphs, rules, src, lengths, options, keep_attention)]
            for row, i in enumerate(idx):
                for h in out[row]:
                    h.output = resolve(source_side, h.output, sources[i])
                    if h.attention is not None:
                        h.attention = h.attention[:, : len(sources[i])]
                results[i].extend(out[row])
    return results
