"""The shape classes of one model that the kernel probe times, each with its candidate kernels as thunks.

A class is one decision: a linear layer's (in, out) at a row count, a decoder cell step, an encoder's recurrent
stack over padded batches, or the optimiser step. Its thunks run the model's own shapes (its own weights for
the stacks; random inputs) the way training (forward and backward) or generation (forward, no autograd, packed
weights) runs them, and leave the model as it was.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models import linear as lin
from ..models.cells import step_by
from ..models.kernel_plan import cell_table, linear_table, segment_table
from ..models.rnn import StackedRNN

Thunk = Callable[[], object]
RNN_ROWS = 128  # rows of the batch an encoder stack is timed on at most (a probe's costliest class)
ADAM_NUMEL = 1 << 23  # weights the optimiser step is timed on at most
MAX_MACS = 1 << 28  # multiply-adds of one timed linear call at most: the probe must stay within its second


@dataclass
class ShapeClass:
    """One decision: its cache key, its banner label, and a maker of one thunk per candidate."""

    kind: str  # linear | cell | rnn | adam
    phase: str  # train | decode
    key: str
    label: str
    names: tuple[str, str]  # the candidates; the first is the built-in default
    make: Callable[[], dict[str, Thunk]] = field(repr=False)
    apply: Callable[[str], None] = field(repr=False)


def _grads(out: Tensor, inputs: list[Tensor]) -> None:
    """Backward through `out` into `inputs` without touching any .grad. From a scalar: given output gradients
    make torch import its symbolic-shape machinery (over a second) the first time."""
    torch.autograd.grad(out.sum(), inputs)


def linear_classes(model: nn.Module, phase: str, rows: tuple[int, int]) -> list[ShapeClass]:
    """One class per distinct (in, out) of the model's `Linear` layers and per row count of `rows` (a step's
    rows and a whole batch's), where oneDNN's kernel applies at all. A row count cut to MAX_MACS decides only up
    to twice the rows it was timed at: the faster kernel changes with the rows (an output layer of 7,882 took
    the BLAS at 64 rows and oneDNN at 871 under AVX2), and beyond that the built-in rule is the safer guess."""
    shapes = sorted({(m.in_features, m.out_features) for m in model.modules() if isinstance(m, lin.Linear)})
    out = []
    for n_in, n_out in shapes:
        sizes = sorted({max(1, min(r, MAX_MACS // (n_in * n_out))) for r in rows})
        sizes = [r for r in sizes if r * n_in * n_out >= lin.SMALL]
        if len(sizes) == 2 and sizes[1] < 2 * sizes[0]:
            sizes = sizes[:1]  # rows this close (the larger cut by MAX_MACS) are one class
        for i, r in enumerate(sizes):
            upto = sizes[i + 1] - 1 if i + 1 < len(sizes) else (math.inf if r >= max(rows) else 2 * r)
            out.append(ShapeClass("linear", phase, f"linear/{phase}/{r}x{n_in}x{n_out}",
                                  f"linear {n_in}x{n_out} at {r} rows", ("onednn", "blas"),
                                  _linear_thunks(phase, r, n_in, n_out), _apply_linear(phase, n_in, n_out, upto)))
    return out


def _apply_linear(phase: str, n_in: int, n_out: int, upto: float) -> Callable[[str], None]:
    """Record a choice for the rows up to `upto` (the classes of one shape cover adjacent row ranges)."""

    def apply(choice: str) -> None:
        entries = [e for e in linear_table.get((phase, n_in, n_out), []) if e[0] != upto]
        linear_table[(phase, n_in, n_out)] = sorted(entries + [(upto, choice == "onednn")])

    return apply


def _linear_thunks(phase: str, rows: int, n_in: int, n_out: int) -> Callable[[], dict[str, Thunk]]:
    def make() -> dict[str, Thunk]:
        w, b = torch.randn(n_out, n_in) * 0.05, torch.zeros(n_out)
        x = torch.randn(rows, n_in)
        if phase == "decode":
            packed = torch.ops.mkldnn._reorder_linear_weight(w, lin.PACK_ROWS)
            return {"onednn": lambda: lin._OP(x, packed, b, "none", [], ""), "blas": lambda: F.linear(x, w, b)}
        x.requires_grad_()
        w.requires_grad_()
        b.requires_grad_()
        return {"onednn": lambda: _grads(lin._OneDNNLinear.apply(x, w, b), [x, w, b]),
                "blas": lambda: _grads(F.linear(x, w, b), [x, w, b])}

    return make


def _stacks(model: nn.Module, side: str) -> Iterator[StackedRNN]:
    seen = set()
    for name, m in model.named_modules():
        if isinstance(m, StackedRNN) and side in name and id(m) not in seen:
            seen.add(id(m))
            yield m


def _weights(stack: StackedRNN, layer: int) -> tuple[Tensor, ...]:
    mod, suffix = stack._step_weights[layer]
    m = stack.layers[mod]
    return tuple(getattr(m, n + suffix).detach() for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def cell_classes(model: nn.Module, phase: str, rows: int) -> list[ShapeClass]:
    """One class per distinct (cell, in, hidden) of the decoders' step-by-step layers, at `rows` rows."""
    shapes = {}
    for stack in _stacks(model, "decoder"):
        if stack.directions == 1:
            for layer in range(stack.num_layers):
                w = _weights(stack, layer)
                shapes.setdefault((stack.cell, w[0].size(1), stack.hidden_size), w)
    out = []
    for (cell, n_in, hidden), w in sorted(shapes.items()):
        if rows * n_in * w[0].size(0) < lin.SMALL or not lin.ENABLED:
            continue
        out.append(ShapeClass("cell", phase, f"cell/{phase}/{cell}/{rows}x{n_in}x{hidden}",
                              f"{cell} step {n_in}->{hidden} at {rows} rows", ("onednn", "blas"),
                              _cell_thunks(phase, cell, rows, w),
                              _apply_cell(phase, cell, n_in, hidden)))
    return out


def _apply_cell(phase: str, cell: str, n_in: int, hidden: int) -> Callable[[str], None]:
    def apply(choice: str) -> None:
        cell_table[(phase, cell, n_in, hidden)] = choice == "onednn"

    return apply


def _cell_thunks(phase: str, cell: str, rows: int, w: tuple[Tensor, ...]) -> Callable[[], dict[str, Thunk]]:
    def make() -> dict[str, Thunk]:
        hidden = w[1].size(1)
        x, h = torch.randn(rows, w[0].size(1)), torch.randn(rows, hidden)
        c = torch.randn(rows, hidden) if cell == "lstm" else None
        if phase == "decode":
            packs = contextlib.ExitStack()
            packs.enter_context(lin.packed_weights())  # the blocked weights stay for the probe's calls

            def run(onednn: bool) -> Thunk:
                def call() -> object:
                    with torch.no_grad():
                        return step_by(onednn, cell, x, h, c, w)
                return call

            return {"onednn": run(True), "blas": run(False), "_close": packs.close}
        weights = tuple(t.clone().requires_grad_() for t in w)
        x.requires_grad_()

        def train(onednn: bool) -> Thunk:
            def call() -> object:
                new_h, _ = step_by(onednn, cell, x, h, c, weights)
                _grads(new_h, [x, *weights])
            return call

        return {"onednn": train(True), "blas": train(False)}

    return make


def rnn_classes(model: nn.Module, lengths: list[int], batch: int) -> list[ShapeClass]:
    """One class per encoder recurrent stack that runs padded batches: segmented or packed, over a batch of
    `lengths` (a sample of the training sources), forward and backward."""
    if not lengths:
        return []
    lengths = lengths[:min(batch, RNN_ROWS)]
    out = []
    for stack in _stacks(model, "encoder"):
        first = stack.layers[0]
        if stack.num_layers == 1 and stack.directions == 1 and not stack.is_lstm:
            continue  # one call over the padded batch either way (StackedRNN._forward_to_last)
        shape = (first.mode, first.input_size, first.hidden_size, first.num_layers, first.bidirectional)
        profile = f"{len(lengths)}x{max(lengths)}/{len(set(lengths))}"
        out.append(ShapeClass("rnn", "train", f"rnn/{'/'.join(map(str, shape))}/{profile}",
                              f"{first.mode.lower()} {first.input_size}->{first.hidden_size}"
                              f"{' bi' if first.bidirectional else ''} x{stack.num_layers} over {len(lengths)} rows "
                              f"of {len(set(lengths))} lengths up to {max(lengths)}",
                              ("segmented", "packed"), _rnn_thunks(stack, shape, lengths),
                              _apply_rnn(shape)))
    return out


def _apply_rnn(shape: tuple) -> Callable[[str], None]:
    def apply(choice: str) -> None:
        segment_table[shape] = choice == "segmented"

    return apply


def _rnn_thunks(stack: StackedRNN, shape: tuple, lengths: list[int]) -> Callable[[], dict[str, Thunk]]:
    def make() -> dict[str, Thunk]:
        x = torch.randn(len(lengths), max(lengths), shape[1], requires_grad=True)
        lens = torch.tensor(lengths)
        params = [p for p in stack.parameters() if p.requires_grad]
        before = segment_table.get(shape)

        def run(segmented: bool) -> Thunk:
            def call() -> object:
                segment_table[shape] = segmented
                out, _ = stack(x, lens)
                _grads(out, [x, *params])
            return call

        def restore() -> None:
            if before is None:
                segment_table.pop(shape, None)
            else:
                segment_table[shape] = before

        return {"segmented": run(True), "packed": run(False), "_close": restore}

    return make


def adam_class(model: nn.Module, optimizer: str) -> ShapeClass:
    """The optimiser step over the model's parameters: fused (one kernel per tensor) or foreach (torch's
    multi-tensor ops), on copies."""
    params, total = [], 0
    for p in model.parameters():  # copies of the first ADAM_NUMEL weights: a large model's would cost gigabytes
        if p.requires_grad and (not params or total + p.numel() <= ADAM_NUMEL):
            params.append(p)
            total += p.numel()
    sizes = f"{len(params)}/{total}"

    def make() -> dict[str, Thunk]:
        cls = torch.optim.AdamW if optimizer == "adamw" else torch.optim.Adam
        thunks = {}
        for name in ("fused", "foreach"):
            copies = [p.detach().clone().requires_grad_() for p in params]
            for c in copies:
                c.grad = torch.full_like(c, 1e-3)
            opt = cls(copies, lr=1e-3, **{name: True})
            thunks[name] = opt.step
        return thunks

    # Nothing to record in the models: the trainer builds its optimiser from the report's choice.
    return ShapeClass("adam", "train", f"adam/{optimizer}/{sizes}", f"{optimizer} over {len(params)} tensors",
                      ("fused", "foreach"), make, lambda choice: None)
