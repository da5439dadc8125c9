"""What each kind of attention costs: training steps and greedy decoding of equal-size models, in one process.

Each variant is a config on top of a base (bi-LSTM encoder, LSTM decoder, additive attention); all see
the same random batches. The rounds alternate the variants (A B C ... then again), and the times are
CPU seconds of this process (`time.process_time`), so other processes on a shared core slow the wall
clock but not the figures much. Reports the median per variant and its ratio to the first.

    .venv/bin/python benchmarks/attention_cost.py                       # the default variants, 1 thread
    .venv/bin/python benchmarks/attention_cost.py --variants concat,concat+model.input_feeding=true \\
        --set model.decoder_hidden=512 --batch 64 --source-length 40 --target-length 30
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from machine import print_machine  # benchmarks/machine.py: the machine line every benchmark prints
from seq2seq import build_config
from seq2seq.config import DecodeConfig
from seq2seq.decoding import greedy
from seq2seq.models import build_model

VARIANTS = ["concat", "location", "concat+model.coverage=true", "location+model.coverage=true",
            "concat+model.input_feeding=true", "location+model.input_feeding=true",
            "general", "general+model.attention_heads=4", "concat+model.copy=true"]


def _config(spec: str, base: list[str]):
    attention, *extra = spec.split("+")
    return build_config(overrides=[*base, f"model.attention={attention}", *extra])


def _batch(vocab: int, batch: int, source_length: int, target_length: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, vocab, (batch, source_length), generator=g)
    lengths = torch.randint(source_length // 2, source_length + 1, (batch,), generator=g)
    lengths[0] = source_length
    src[torch.arange(source_length) >= lengths.unsqueeze(1)] = 0
    tgt = torch.randint(4, vocab, (batch, target_length + 1), generator=g)
    return src, lengths, tgt[:, :-1], tgt[:, 1:]


def _copy_source(src: torch.Tensor, vocab: int) -> torch.Tensor:
    """A copy model reads (B, S, 2): the ids beside extended ids (here: the same ids, some copied positions)."""
    extended = src.clone()
    extended[:, ::3] = vocab + torch.arange(src.size(1))[::3]
    return torch.stack([src, extended.masked_fill(src == 0, 0)], -1)


def measure(spec: str, args: argparse.Namespace, data: tuple) -> tuple[float, float]:
    """CPU seconds of one training step (forward, backward, Adam) and of greedy decoding of the batch."""
    cfg = _config(spec, args.set)
    torch.manual_seed(0)
    model = build_model(cfg.model, args.vocab, args.vocab)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    src, lengths, tgt_in, tgt_out = data
    if cfg.model.copy:
        src = _copy_source(src, args.vocab)
    model.train()
    start = time.process_time()
    for _ in range(args.steps):
        optimizer.zero_grad()
        loss, _ = model.loss(model(src, lengths, tgt_in).scores, tgt_out)
        loss.backward()
        optimizer.step()
    train = (time.process_time() - start) / args.steps
    model.eval()
    start = time.process_time()
    greedy(model, src, lengths, DecodeConfig(max_length=args.target_length))
    return train, time.process_time() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", type=lambda s: s.split(","), default=VARIANTS,
                   help="comma-separated ATTENTION[+key=value...] (the first is the baseline)")
    p.add_argument("--set", action="append", default=[], help="config override for every variant (repeatable)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--source-length", type=int, default=30)
    p.add_argument("--target-length", type=int, default=25)
    p.add_argument("--vocab", type=int, default=8000)
    p.add_argument("--steps", type=int, default=5, help="training steps per measurement")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    print_machine()
    args.set = ["model.embedding_size=256", "model.encoder_hidden=256", "model.decoder_hidden=256",
                "model.bidirectional=true", "model.bridge=linear", *args.set]
    torch.set_num_threads(args.threads)
    data = _batch(args.vocab, args.batch, args.source_length, args.target_length, 0)
    times: dict[str, list[tuple[float, float]]] = {v: [] for v in args.variants}
    for _ in range(args.rounds):
        for spec in args.variants:
            times[spec].append(measure(spec, args, data))
    base_train = statistics.median(t for t, _ in times[args.variants[0]])
    base_decode = statistics.median(d for _, d in times[args.variants[0]])
    print(f"batch {args.batch}, source {args.source_length}, target {args.target_length}, vocabulary {args.vocab}, "
          f"{args.threads} thread(s), torch {torch.__version__}; CPU seconds, median of {args.rounds}")
    print("| variant | train s/step | vs first | greedy s/batch | vs first |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for spec, values in times.items():
        train = statistics.median(t for t, _ in values)
        decode = statistics.median(d for _, d in values)
        print(f"| {spec} | {train:.3f} | {train / base_train:.2f}x | {decode:.3f} | {decode / base_decode:.2f}x |")


if __name__ == "__main__":
    main()
