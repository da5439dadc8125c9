"""Generation for many inputs, for every engine: batched by length, the strategy of the decoding options
chosen from `STRATEGIES`, results in input order."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..config import DecodeConfig
from ..config.overrides import with_seed
from ..data.batching import sort_for_inference
from ..data.copying import resolve
from .beam import beam_search
from .hypothesis import Hypothesis
from .stepper import Stepper
from .steps import greedy, sample

# (stepper, src, src_lengths, options, random generator or None, keep_attention) -> hypotheses per row
Search = Callable[..., list[list[Hypothesis]]]


@dataclass(frozen=True)
class Strategy:
    """A search and whether it draws at random (then decode.nbest independent draws, the i-th seeded
    decode.seed + i, make the n-best list)."""

    search: Search
    random: bool = False


STRATEGIES: dict[str, Strategy] = {"greedy": Strategy(greedy), "sample": Strategy(sample, random=True),
                                   "beam": Strategy(beam_search)}


class Engine(Stepper, Protocol):
    """A `Stepper` that also pads sources, seeds a generator and sets its model up for generation."""

    def pad(self, source_side: Any, sources: list[Any]) -> tuple[Any, Any]:
        """A batch of encoded sources as the engine's padded (src, src_lengths)."""

    def rng(self, seed: int) -> Any:
        """The engine's random generator seeded with `seed`."""

    def generating(self) -> contextlib.AbstractContextManager[None]:
        """The model set up for generation for the duration of a `with` block."""


def generate(net: Engine, source_side: Any, sources: Sequence[Any], options: DecodeConfig, *,
             keep_attention: bool = False) -> list[list[Hypothesis]]:
    """Per source (encoded: ids or an (L, D) array), its hypotheses, best first: decode.nbest of them for
    beam search and sampling (independent draws, the i-th with seed decode.seed + i; a fresh seed when it is
    null), one for greedy. Sources are padded by their side in batches of decode.batch_size, longest first; a
    copy model's outputs hold the copied words themselves in place of extended ids."""
    options = with_seed(options)
    strategy = STRATEGIES[options.strategy]
    results: list[list[Hypothesis]] = [[] for _ in sources]
    with net.generating():
        for draw in range(options.nbest if strategy.random else 1):
            rng = net.rng(options.seed + draw) if strategy.random else None
            for idx in sort_for_inference([len(s) for s in sources], options.batch_size):
                src, lengths = net.pad(source_side, [sources[i] for i in idx])
                out = strategy.search(net, src, lengths, options, rng, keep_attention)
                for row, i in enumerate(idx):
                    for h in out[row]:
                        _trim(h, source_side, sources[i])
                    results[i].extend(out[row])
    return results


def _trim(h: Hypothesis, source_side: Any, source: Any) -> None:
    """A hypothesis as the caller sees it: copied words resolved, attention over the real source only."""
    h.output = resolve(source_side, h.output, source)
    if h.attention is not None:
        h.attention = h.attention[:, : len(source)]
    if h.head_attention is not None:
        h.head_attention = h.head_attention[..., : len(source)]


@contextlib.contextmanager
def nothing_to_set_up() -> Iterator[None]:
    """`Engine.generating` of an engine whose model needs no set-up."""
    yield
