"""One process vs N data-parallel processes (torchrun, gloo), and fp32 vs bf16 autocast, on this machine.

Each setting trains the same model on the same data for the same steps and reports the training
throughput (source + target tokens per second, from metrics.jsonl) and the final validation loss.

    python benchmarks/scaling.py [--task date] [--preset attention] [--epochs 1] [--nproc 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from machine import print_machine  # benchmarks/machine.py: the machine line every benchmark prints


def train(out: Path, args: argparse.Namespace, nproc: int, threads: int, precision: str) -> dict:
    """One training run; returns its throughput and final validation loss."""
    if out.exists():
        shutil.rmtree(out)
    base = ["-m", "seq2seq", "train", "--task", args.task, "--preset", args.preset, "--epochs", str(args.epochs),
            "--out", str(out), "--quiet", "--set", f"train.threads={threads}", "--set",
            f"train.precision={precision}", "--set", f"data.train_size={args.train_size}",
            "--set", "data.valid_size=500", "--set", "data.test_size=0"]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)] + base
    else:
        cmd = [sys.executable] + base
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    tps = sum(r["train_tokens_per_second"] for r in rows) / len(rows)
    return {"tokens_per_second": tps, "valid_loss": rows[-1]["valid_loss"], "train_seconds": rows[-1]["seconds"]}


def main() -> None:
    """Run the settings and print a markdown table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="date")
    p.add_argument("--preset", default="attention")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--train-size", type=int, default=20000)
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--out", default="runs/scaling")
    args = p.parse_args()
    print_machine()
    out = Path(args.out)
    cores = os.cpu_count() or 1
    settings = [("1 process, fp32", 1, cores, "fp32"), (f"{args.nproc} processes, fp32", args.nproc,
                                                         max(cores // args.nproc, 1), "fp32"),
                ("1 process, bf16", 1, cores, "bf16")]
    results = [(name, train(out / f"run{i}", args, n, t, prec)) for i, (name, n, t, prec) in enumerate(settings)]
    base = results[0][1]["tokens_per_second"]
    print(f"| setting ({args.task}, {args.preset}, {cores} cores) | tokens/s | vs 1 process | final valid loss |")
    print("| --- | ---: | ---: | ---: |")
    for name, r in results:
        print(f"| {name} | {r['tokens_per_second']:.0f} | {r['tokens_per_second'] / base:.2f}x | "
              f"{r['valid_loss']:.4f} |")


if __name__ == "__main__":
    main()
