"""Linear layers through oneDNN's matmul on the CPU: forward and both gradients, float32.

torch's float32 `linear` on the CPU goes to its BLAS (MKL), which on some CPUs (AMD EPYC with AVX-512)
runs the AVX2 path, while oneDNN, also inside torch, uses the CPU's widest instructions: about twice as
fast there; where only AVX2 exists the BLAS can be faster for some shapes (docs/performance.md). The
results are float32 products summed in another order (relative difference ~1e-6 from `F.linear`). Inside
`packed_weights()` (generation) a weight read without autograd is reordered into oneDNN's blocked layout
once for the block, which saves a reorder on every step. Everything else - other devices and dtypes,
autocast (which picks its own kernels), tracing for export, empty inputs, products too small for oneDNN's
call to pay - takes `F.linear`. Which of the two a shape takes where both apply is the kernel probe's
choice (`models/kernel_plan.py`, filled by `seq2seq.kernels`); undecided shapes take oneDNN.
`SEQ2SEQ_ONEDNN_LINEAR=0` turns the path off everywhere (as `train.kernels: blas` and `decode.kernels: blas` do).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .kernel_plan import linear_choice


def _onednn_op():
    """torch's oneDNN linear kernel (what Inductor's CPU fusions call), or None where this build lacks it."""
    try:
        return torch.ops.mkldnn._linear_pointwise if torch.backends.mkldnn.is_available() else None
    except (AttributeError, RuntimeError):
        return None


_OP = _onednn_op()
ENABLED = _OP is not None and os.environ.get("SEQ2SEQ_ONEDNN_LINEAR", "1") != "0"
SMALL = 1 << 20  # multiply-adds below which the BLAS call is cheaper
PACK_ROWS = 64  # the row count oneDNN lays a packed weight out for: a generation batch's


class _Scope:
    """A table keyed by id(weight) that exists while the outermost of nested `open()` blocks runs."""

    def __init__(self) -> None:
        self.table: dict | None = None

    @contextlib.contextmanager
    def open(self) -> Iterator[None]:
        """Make the table unless an outer block has; drop it when the outermost block ends."""
        outermost = self.table is None
        if outermost:
            self.table = {}
        try:
            yield
        finally:
            if outermost:
                self.table = None


_packs = _Scope()  # id(weight) -> its blocked copy, while `packed_weights` is open
_shared = _Scope()  # id(weight) -> its transpose's holder, while `shared_transposes` is open


def _matmul_t(a: Tensor, b: Tensor, bias: Tensor | None = None) -> Tensor:
    """a (M, K) @ b (N, K)^T (+ bias) -> (M, N), both contiguous."""
    return _OP(a, b, bias, "none", [], "")


class _Transpose:
    """W^T as a contiguous copy, made by the first backward that needs it and kept by every call of its block."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: Tensor | None = None

    def of(self, weight: Tensor) -> Tensor:
        """weight (N, K) -> its (K, N) contiguous copy, made once."""
        if self.value is None:
            self.value = weight.t().contiguous()
        return self.value


class _OneDNNLinear(torch.autograd.Function):
    """y = x W^T + b for 2-D contiguous x, its gradients by the same kernel."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        shared = _shared.table
        ctx.transpose = _Transpose() if shared is None else shared.setdefault(id(weight), _Transpose())
        return _matmul_t(x, weight, bias)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        x, weight = ctx.saved_tensors
        grad = grad.contiguous()
        grad_x = _matmul_t(grad, ctx.transpose.of(weight)) if ctx.needs_input_grad[0] else None
        grad_w = _matmul_t(grad.t().contiguous(), x.t().contiguous()) if ctx.needs_input_grad[1] else None
        grad_b = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b


def onednn_applies(x: Tensor, weight: Tensor) -> bool:
    """Whether oneDNN's kernel can compute `linear(x, weight)` here and pays for its call."""
    # Tracing first: under a trace x.numel() is a tensor, and comparing it would warn.
    return (ENABLED and not torch.jit.is_tracing() and not torch.jit.is_scripting() and x.device.type == "cpu"
            and x.dtype == torch.float32 and weight.dtype == torch.float32 and x.numel() > 0
            and x.numel() * weight.size(0) >= SMALL and not torch.is_autocast_enabled("cpu"))


def takes_onednn(x: Tensor, weight: Tensor) -> bool:
    """Whether `linear(x, weight)` runs on oneDNN's kernel (else `F.linear`): where it applies and the probe did
    not find the BLAS faster for this shape."""
    if not onednn_applies(x, weight):
        return False
    choice = linear_choice(x.numel() // x.size(-1), weight.size(1), weight.size(0))
    return choice is not False


def packed_weights() -> contextlib.AbstractContextManager[None]:
    """Within the block, weights read without autograd are reordered for oneDNN once and reused: for generation,
    where they cannot change. Nothing is kept past it, since an optimiser may change a weight without a trace
    (fused Adam leaves the version counter alone). Nested blocks share the outermost one's copies."""
    return _packs.open()


def shared_transposes() -> contextlib.AbstractContextManager[None]:
    """Within the block, the backward passes of every call on one weight share one transposed copy of it, for
    loops that apply a weight once per time step (the input-feeding decoder), instead of one copy per step.
    A block spans one forward pass, in which the weights cannot change; the copy lives as long
    as the autograd graph that holds it."""
    return _shared.open()


def _packed(weight: Tensor) -> Tensor:
    """weight in oneDNN's blocked layout, made once per `packed_weights` block."""
    packs = _packs.table
    packed = packs.get(id(weight))
    if packed is None:
        packed = packs[id(weight)] = torch.ops.mkldnn._reorder_linear_weight(weight.detach(), PACK_ROWS)
    return packed


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """`F.linear(x, weight, bias)` for x (..., in), weight (out, in); oneDNN's kernel where it applies."""
    if not takes_onednn(x, weight):
        return F.linear(x, weight, bias)
    return onednn_linear(x, weight, bias)


def onednn_linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """`linear` on oneDNN's kernel, for a caller that checked `onednn_applies`."""
    flat = x.reshape(-1, x.size(-1)).contiguous()
    if _packs.table is not None and not torch.is_grad_enabled():
        out = _OP(flat, _packed(weight), bias, "none", [], "")
    else:
        out = _OneDNNLinear.apply(flat, weight.contiguous(), bias)
    return out.view(*x.shape[:-1], weight.size(0))


class Linear(nn.Linear):
    """`nn.Linear` (same parameters, initialisation and state-dict keys) computed by `linear`."""

    def forward(self, x: Tensor) -> Tensor:
        """x (..., in) -> (..., out)."""
        return linear(x, self.weight, self.bias)
