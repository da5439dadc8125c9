"""Input reversal (Sutskever et al. 2014): the encoder reads the source backwards.

The source's first words then sit next to the decoder's first outputs, which shortens the paths the
gradient travels early in the target ("minimal time lag"); on the addition task of Saito, Deep Learning from
Scratch 2, ch. 7, it lifts accuracy severalfold at no cost. Everything that shows or cuts the source in reading
order goes through this one transform.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

S = TypeVar("S", bound=Sequence)


@dataclass(frozen=True)
class InputReversal:
    """Reverses a side's encoded sequences when `enabled` (`data.reverse_source`); otherwise the identity."""

    enabled: bool = False

    def apply(self, encoded: S) -> S:
        """Reading order -> the order the encoder reads (a list of ids or an (L, D) array)."""
        return encoded[::-1] if self.enabled else encoded  # type: ignore[return-value]

    def keep_first(self, encoded: S, limit: int) -> S:
        """The first `limit` steps in reading order of an already reversed (or not) sequence."""
        return encoded[-limit:] if self.enabled else encoded[:limit]  # type: ignore[return-value]

    def reading_order(self, attention: Any) -> Any:
        """Attention weights (..., S) over encoder steps (a torch tensor or a numpy array) -> over source positions
        in reading order."""
        if not self.enabled:
            return attention
        return attention.flip(-1) if hasattr(attention, "flip") else attention[..., ::-1]
