"""The compute bound of `textbook.py`: the core's matmul peak measured in the same invocation, and the FLOPs an
epoch of a recurrent model costs, counted from its parameter shapes and the lengths of the batches it runs.

The peak is the best rate of a float32 matmul over a few shapes (the textbook models' own gate products and
1024^3) by torch's BLAS (`@`), by oneDNN's linear kernel (which the toolkit uses where the kernel probe finds
it faster) and, on CPUs with bf16 instructions, in bfloat16; and by NumPy's BLAS, the book's. Each call is
timed by the thread's CPU time and the fastest counts, so time the scheduler gives to other processes on a
shared core does not lower it. A speed-up over the book's code is then bounded by

    book seconds per epoch / (our FLOPs per epoch / peak)

which is what the roofline column of `textbook.py` prints: the largest ratio this core allows if every FLOP
ran at the matmul peak and nothing else took time.

    python benchmarks/roofline.py             # prints the peaks as JSON (torch and NumPy)
    python benchmarks/roofline.py --numpy     # NumPy's alone (the book's process environment)
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# (rows, in, out): addition's decoder gates (peeky: 16 + 128 in), dates' gates (16 + 256 in), a large square.
SHAPES = ((128, 144, 512), (128, 272, 1024), (1024, 1024, 1024))


def _best_rate(run: Callable[[], Any], flop: float, seconds: float) -> float:
    """GFLOP/s of the fastest of repeated calls, each timed by the thread's CPU time."""
    for _ in range(3):
        run()
    best, start = float("inf"), time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.thread_time()
        run()
        best = min(best, time.thread_time() - t)
    return flop / max(best, 1e-9) / 1e9


def torch_peaks(seconds: float = 0.3) -> dict[str, float]:
    """{"fp32 BLAS", "fp32 oneDNN", "bf16"}: the best GFLOP/s over SHAPES of each kernel this build and CPU have
    (bf16 only where the CPU has AVX-512 BF16 or AMX; torch's `@` in bf16, oneDNN's where faster)."""
    import torch

    torch.set_num_threads(1)
    try:
        onednn = torch.ops.mkldnn._linear_pointwise if torch.backends.mkldnn.is_available() else None
    except (AttributeError, RuntimeError):
        onednn = None
    flags = _cpu_flags()
    bf16 = bool({"avx512_bf16", "amx_bf16"} & flags) and torch.backends.mkldnn.is_available()
    out: dict[str, float] = {}
    for m, k, n in SHAPES:
        flop = 2.0 * m * k * n
        a, b = torch.randn(m, k), torch.randn(k, n)
        bt = b.t().contiguous()
        rates = {"fp32 BLAS": _best_rate(lambda a=a, b=b: a @ b, flop, seconds)}
        if onednn is not None:
            rates["fp32 oneDNN"] = _best_rate(lambda a=a, bt=bt: onednn(a, bt, None, "none", [], ""), flop, seconds)
        if bf16:
            ab, bb, bbt = a.bfloat16(), b.bfloat16(), bt.bfloat16()
            try:  # oneDNN refuses bf16 where its instructions are held back (ONEDNN_MAX_CPU_ISA=AVX2)
                rates["bf16"] = max(_best_rate(lambda ab=ab, bb=bb: ab @ bb, flop, seconds),
                                    _best_rate(lambda ab=ab, bbt=bbt: onednn(ab, bbt, None, "none", [], ""),
                                               flop, seconds)
                                    if onednn is not None else 0.0)
            except RuntimeError:
                bf16 = False
        for name, rate in rates.items():
            out[name] = max(out.get(name, 0.0), rate)
    out["fp32"] = max(v for k, v in out.items() if k.startswith("fp32"))
    return out


def numpy_peak(seconds: float = 0.3) -> float:
    """The best float32 GFLOP/s of NumPy's `@` over SHAPES (the book's BLAS)."""
    import numpy as np

    best = 0.0
    for m, k, n in SHAPES:
        a, b = np.random.rand(m, k).astype(np.float32), np.random.rand(k, n).astype(np.float32)
        best = max(best, _best_rate(lambda a=a, b=b: a @ b, 2.0 * m * k * n, seconds))
    return best


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _rnn_macs(module: Any) -> int:
    """Multiply-adds per token of every recurrent layer in `module` (both directions): gates x (in + hidden)."""
    from torch import nn

    return sum(p.numel() for rnn in module.modules() if isinstance(rnn, nn.RNNBase)
               for name, p in rnn.named_parameters() if name.startswith(("weight_ih", "weight_hh")))


def _linear_macs(module: Any) -> int:
    """Multiply-adds per row of every linear layer in `module`."""
    from torch import nn

    return sum(layer.weight.numel() for layer in module.modules() if isinstance(layer, nn.Linear))


def ours_flops(run_dir: Path) -> dict[str, float]:
    """FLOPs of one training epoch (forward + backward = 3x forward) and of one validation (teacher-forced
    loss + greedy decoding of the gold lengths: 2x forward) of a recurrent run, from its model's parameter
    shapes and its data: the encoder runs each batch padded to its longest source when it can in one call
    (one layer, one direction, no final cell state wanted), else each row's own length; the decoder runs every
    row to the batch's longest target plus `</s>`; dot/general attention reads the batch's longest source."""
    import numpy as np

    from seq2seq.config import build_config
    from seq2seq.data.batching import make_batches
    from seq2seq.training.prepare import prepare

    cfg = build_config(yaml_file=run_dir / "config.yaml")
    data = prepare(cfg, run_dir, resume=True)
    model, m = data.bundle.model, cfg.model
    enc_macs = _rnn_macs(model.encoder)
    dec_macs = _rnn_macs(model.decoder) + _linear_macs(model.decoder)
    attention = 2 * model.encoder.output_size if m.attention != "none" else 0  # scores and context, per position
    one_call = m.encoder_layers == 1 and not m.bidirectional and not (m.cell == "lstm" and model.encoder.final_cell)

    def forward(src: np.ndarray, tgt: np.ndarray) -> float:
        rows, s_max, t_steps = len(src), int(src.max()), int(tgt.max()) + 1
        enc_tokens = rows * s_max if one_call else int(src.sum())
        return 2.0 * (enc_macs * enc_tokens + (dec_macs + attention * s_max) * rows * t_steps)

    t = cfg.train
    src_len, tgt_len = data.train.source_lengths, data.train.target_lengths
    plan = make_batches(src_len, tgt_len, t.batch_size, by=t.batch_by, bucket=t.bucket, shuffle=True,
                        seed=t.seed, epoch=0)
    train = 3 * sum(forward(src_len[idx], tgt_len[idx]) for idx in plan)
    vs = np.array([len(s) for s, _ in data.valid])
    vt = np.array([len(tg) for _, tg in data.valid])
    vplan = make_batches(vs, vt, max(t.batch_size, 64), bucket=True, shuffle=False)
    valid = 2 * sum(forward(vs[idx], vt[idx]) for idx in vplan)
    return {"train_gflop": train / 1e9, "valid_gflop": valid / 1e9, "steps": len(plan)}


def main() -> None:
    """Print the peaks as JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--numpy", action="store_true", help="NumPy's float32 peak alone")
    p.add_argument("--seconds", type=float, default=0.3, help="per shape and kernel")
    args = p.parse_args()
    result = {"numpy fp32": numpy_peak(args.seconds)} if args.numpy else torch_peaks(args.seconds)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
