"""Three ways to run an LSTM layer's forward and backward on one CPU thread, at the textbook models' shapes:

- `onednn`: `torch.nn.LSTM` as the toolkit runs it on CPU (oneDNN's RNN primitive, forward and backward);
- `aten`: the same module with oneDNN switched off (ATen's own cell loop);
- `python`: a hand-written `autograd.Function` in the style of Appleyard, Kocisky & Blunsom (2016, "Optimizing
  performance of recurrent neural networks on GPUs"): one GEMM for every step's input projection, one `addmm`
  a step for the recurrence, the gates kept from the forward, and the weight gradients of all steps as one GEMM
  each in the backward.

It checks that the three agree (outputs and gradients) and prints milliseconds and GFLOP/s (thread CPU time,
the faster of `--rounds` alternating rounds) for each. It answers one question of issue 26: is there a faster
float32 LSTM than oneDNN's primitive that the toolkit could write without native code?

    .venv/bin/python benchmarks/lstm_kernels.py
    ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 \
        .venv/bin/python benchmarks/lstm_kernels.py              # the AVX2 emulation
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

from machine import print_machine  # benchmarks/machine.py: the machine line every benchmark prints

# (name, steps, batch, input width, hidden): the encoders and decoders of the book's addition and dates models
SHAPES = [("addition encoder", 7, 128, 16, 128), ("addition decoder", 5, 128, 144, 128),
          ("dates encoder", 29, 128, 16, 256), ("dates decoder", 11, 128, 16, 256)]


class StepLSTM(torch.autograd.Function):
    """One LSTM layer (gate order i, f, g, o as torch's), time-major, with an explicit backward."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, bias):  # noqa: D102 - autograd's protocol
        steps, batch, width = x.shape
        hidden = h0.shape[1]
        projected = torch.addmm(bias, x.reshape(steps * batch, width), w_ih.t()).view(steps, batch, 4 * hidden)
        hs = x.new_empty(steps + 1, batch, hidden)
        cs = x.new_empty(steps + 1, batch, hidden)
        hs[0], cs[0] = h0, c0
        gates = x.new_empty(steps, batch, 4 * hidden)
        w_hh_t = w_hh.t()
        for t in range(steps):
            g = torch.addmm(projected[t], hs[t], w_hh_t, out=gates[t])
            i, f = g[:, :hidden].sigmoid_(), g[:, hidden:2 * hidden].sigmoid_()
            cell, o = g[:, 2 * hidden:3 * hidden].tanh_(), g[:, 3 * hidden:].sigmoid_()
            c = torch.addcmul(f * cs[t], i, cell, out=cs[t + 1])
            torch.mul(o, c.tanh(), out=hs[t + 1])
        ctx.save_for_backward(x, hs, cs, gates, w_ih, w_hh)
        return hs[1:], hs[steps].clone(), cs[steps].clone()

    @staticmethod
    def backward(ctx, d_out, d_h, d_c):  # noqa: D102 - autograd's protocol
        x, hs, cs, gates, w_ih, w_hh = ctx.saved_tensors
        steps, batch, width = x.shape
        hidden = hs.shape[2]
        d_gates = torch.empty_like(gates)
        d_h = torch.zeros_like(hs[0]) if d_h is None else d_h.clone()
        d_c = torch.zeros_like(hs[0]) if d_c is None else d_c.clone()
        for t in range(steps - 1, -1, -1):
            if d_out is not None:
                d_h += d_out[t]
            g, d = gates[t], d_gates[t]
            i, f, cell, o = (g[:, k * hidden:(k + 1) * hidden] for k in range(4))
            tanh_c = cs[t + 1].tanh()
            d_c.addcmul_(d_h * o, 1 - tanh_c * tanh_c)
            torch.mul(d_c * cell, i * (1 - i), out=d[:, :hidden])
            torch.mul(d_c * cs[t], f * (1 - f), out=d[:, hidden:2 * hidden])
            torch.mul(d_c * i, 1 - cell * cell, out=d[:, 2 * hidden:3 * hidden])
            torch.mul(d_h * tanh_c, o * (1 - o), out=d[:, 3 * hidden:])
            d_c = d_c * f
            d_h = d @ w_hh
        flat = d_gates.view(steps * batch, 4 * hidden)
        d_w_hh = flat.t() @ hs[:steps].reshape(steps * batch, hidden)
        d_w_ih = flat.t() @ x.reshape(steps * batch, width)
        return (flat @ w_ih).view(steps, batch, width), d_h, d_c, d_w_ih, d_w_hh, flat.sum(0)


def flops(steps: int, batch: int, width: int, hidden: int) -> float:
    """Forward + backward FLOPs of the layer's two matmuls: 3x the forward's 2 * 4H(D + H) per token."""
    return 3 * 2 * 4 * hidden * (width + hidden) * steps * batch


def row(name: str, steps: int, batch: int, width: int, hidden: int, rounds: int, seconds: float) -> str:
    """One shape's table row: each way's best time and rate, the ratio, the largest gradient difference."""
    lstm = torch.nn.LSTM(width, hidden)
    x = torch.randn(steps, batch, width, requires_grad=True)
    h0 = torch.zeros(1, batch, hidden)
    bias = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().requires_grad_()
    weights = [x, lstm.weight_ih_l0, lstm.weight_hh_l0]
    grad_out = torch.randn(steps, batch, hidden)

    def module(enabled: bool) -> torch.Tensor:
        with torch.backends.mkldnn.flags(enabled=enabled):
            return lstm(x, (h0, h0))[0]

    runs = {"onednn": lambda: module(True), "aten": lambda: module(False),
            "python": lambda: StepLSTM.apply(x, h0[0], h0[0], lstm.weight_ih_l0, lstm.weight_hh_l0, bias)[0]}
    reference = torch.autograd.grad((runs["onednn"]() * grad_out).sum(), weights)
    diff = max((a - b).abs().max().item() for a, b in
               zip(reference, torch.autograd.grad((runs["python"]() * grad_out).sum(), weights)))
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for kind, fn in runs.items():
            (fn() * grad_out).sum().backward()  # warm-up of this shape
            n, start = 0, time.thread_time()
            while time.thread_time() - start < seconds:
                (fn() * grad_out).sum().backward()
                n += 1
            best[kind] = min(best[kind], (time.thread_time() - start) / n)
    work = flops(steps, batch, width, hidden) / 1e9
    cells = [f"{best[k] * 1e3:.2f} ({work / best[k]:.0f})" for k in runs]
    return (f"| {name} ({steps}, {batch}, {width} -> {hidden}) | {' | '.join(cells)} | "
            f"{best['onednn'] / best['python']:.2f}x | {diff:.1e} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds; the faster is reported (default 2)")
    p.add_argument("--seconds", type=float, default=1.0, help="seconds per measurement (default 1)")
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    warnings.filterwarnings("ignore", message="TF32 acceleration")  # mkldnn.flags() warns on every CPU build
    print_machine()
    print("| layer (steps, batch, in -> hidden) | oneDNN ms (GFLOP/s) | ATen ms (GFLOP/s) | "
          "hand-written ms (GFLOP/s) | hand-written / oneDNN | max gradient difference |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for shape in SHAPES:
        print(row(*shape, rounds=args.rounds, seconds=args.seconds), flush=True)


if __name__ == "__main__":
    main()
