"""Generation: greedy search, sampling and beam search, and the batched front door `generate`."""

from ..config.overrides import decode_options, with_seed
from ..search.hypothesis import Hypothesis
from .beam import beam_search, length_penalty
from .generate import generate, single
from .greedy import greedy
from .sampling import filter_logits, sample

__all__ = ["Hypothesis", "beam_search", "decode_options", "filter_logits", "generate", "greedy", "length_penalty",
           "sample", "single", "with_seed"]
