"""`ArrayOps` (see `search.ops`) over torch tensors on one device: the PyTorch engine's side of the searches (only
the PyTorch engine imports this module; the rest of `search` needs no torch)."""

from __future__ import annotations

import torch
from torch import Tensor


class TorchOps:
    """`ArrayOps` over torch tensors on `device`."""

    _DTYPES = {"float": torch.float32, "long": torch.long, "bool": torch.bool}

    def __init__(self, device: torch.device):
        self.device = device

    def full(self, shape: tuple[int, ...], value: float, dtype: str) -> Tensor:
        """A new tensor of `shape` filled with `value`."""
        return torch.full(shape, value, dtype=self._DTYPES[dtype], device=self.device)

    def arange(self, n: int) -> Tensor:
        """0 .. n - 1."""
        return torch.arange(n, device=self.device)

    def repeat(self, x: Tensor, k: int) -> Tensor:
        """Each row k times in a row."""
        return x.repeat_interleave(k, dim=0)

    def take(self, x: Tensor, rows: Tensor) -> Tensor:
        """Rows `rows` of `x`."""
        return x.index_select(0, rows)

    def put(self, base: Tensor, rows: Tensor, values: Tensor) -> Tensor:
        """`base` with its rows `rows` replaced."""
        return base.index_copy(0, rows, values)

    def add_to(self, acc: Tensor, rows: Tensor, values: Tensor) -> None:
        """acc[rows] += values, in place."""
        acc.index_add_(0, rows, values)

    def cat(self, xs: list[Tensor], axis: int) -> Tensor:
        """Tensors joined along `axis`."""
        return torch.cat(xs, axis)

    def stack(self, xs: list[Tensor], axis: int) -> Tensor:
        """Tensors stacked on a new `axis`."""
        return torch.stack(xs, axis)

    def where(self, cond: Tensor, a: Tensor | float, b: Tensor | float) -> Tensor:
        """a where cond, else b."""
        return torch.where(cond, a, b)

    def nonzero(self, mask: Tensor) -> Tensor:
        """Indices where `mask` is True."""
        return mask.nonzero().squeeze(1)

    def top(self, x: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """The k largest per row (torch.topk)."""
        values, idx = x.topk(k, dim=1)
        return values, idx

    def order(self, x: Tensor) -> Tensor:
        """Columns by descending value."""
        return x.argsort(dim=1, descending=True)

    def row_max(self, x: Tensor) -> Tensor:
        """Each row's largest value."""
        return x.amax(1)

    def as_float(self, x: Tensor) -> Tensor:
        """x as float32."""
        return x.float()

    def as_long(self, x: Tensor) -> Tensor:
        """x as int64."""
        return x.long()

    def clip(self, x: Tensor, low: float, high: float) -> Tensor:
        """x limited to [low, high]."""
        return x.clamp(low, high)

    def log(self, x: Tensor) -> Tensor:
        """Natural logarithm."""
        return x.log()

    def log_softmax(self, x: Tensor) -> Tensor:
        """log softmax over the last axis, in float32."""
        return x.float().log_softmax(-1)

    def copy(self, x: Tensor) -> Tensor:
        """A copy."""
        return x.clone()

    def fill_rows(self, x: Tensor, rows: Tensor, value: float) -> None:
        """x[rows] = value, in place."""
        x.masked_fill_(rows.unsqueeze(1), value)

    def pick(self, x: Tensor, cols: Tensor) -> Tensor:
        """x[i, cols[i]] of each row."""
        return x.gather(1, cols.unsqueeze(1)).squeeze(1)

    def filter_logits(self, logits: Tensor, top_k: int, top_p: float) -> Tensor:
        """See `filter_logits`."""
        return filter_logits(logits, top_k, top_p)

    def draw(self, logits: Tensor, rng: torch.Generator | None) -> Tensor:
        """torch.multinomial over softmax(logits) with the generator `rng`."""
        return torch.multinomial(logits.softmax(-1), 1, generator=rng).squeeze(1)


def filter_logits(logits: Tensor, top_k: int, top_p: float) -> Tensor:
    """Mask all but the top-k tokens (Fan et al. 2018) and the smallest set holding top_p of the mass
    (nucleus sampling, Holtzman et al. 2020). (N, V) -> (N, V)"""
    if top_k > 0:
        kth = logits.topk(min(top_k, logits.size(-1)), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        # Keep a token while the mass before it is below top_p; the most likely one always survives (top_p = 0
        # would otherwise drop every token).
        drop = (probs.cumsum(-1) - probs) >= top_p
        drop[..., 0] = False
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits
