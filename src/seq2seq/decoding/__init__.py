"""The PyTorch engine's generation: greedy search, sampling and beam search (written once for every engine in
`seq2seq.search`), the batched front door `generate`, and scoring given targets."""

from ..config.overrides import decode_options, with_seed
from ..search.hypothesis import Hypothesis
from ..search.torch_ops import filter_logits
from .generate import beam_search, generate, greedy, one_best, sample

__all__ = ["Hypothesis", "beam_search", "decode_options", "filter_logits", "generate", "greedy", "one_best",
           "sample", "with_seed"]
