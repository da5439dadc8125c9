"""Corpora bigger than memory: preprocessing rate, command-to-first-step time and peak memory, text files against a
preprocessed directory, on a synthetic Multi30k-like corpus of N pairs.

    python benchmarks/large_corpus.py                               # 100k, 1M and 10M pairs
    python benchmarks/large_corpus.py --pairs 100000,1000000 --text-max 1000000 --workers 1,2
    python benchmarks/large_corpus.py --pairs 1000000 --workers 1,2 --rounds 3 --preprocess-only   # the speed-up

For each size it writes the corpus (pseudo-words drawn from a Zipf law, sentence lengths about Multi30k's: 12
source and 13 target words on average), then measures, each in a process of its own:
- `seq2seq preprocess --workers W` for each W: wall time, CPU time (all its processes, and the main process's
  alone: the serial part that bounds the speed-up), pairs per wall second and per CPU second (what one worker
  does alone, robust to a busy machine), peak memory;
- `seq2seq train --data DIR` (after) and `seq2seq train --train FILE --valid FILE` (before, up to --text-max
  pairs): seconds from the command's start to the end of the first optimiser step, and peak memory then.
With --rounds R the preprocessing runs R times per worker count, alternating (1 2 2 1 1 2 ...), and a second table
gives the medians, the CPU time per pair (all processes, and the workers' alone) and the speed-up over one worker
(median wall time of 1 worker / of W): run it on an idle machine with every core free to see what W workers gain,
or pinned to one core (`taskset -c 0`) to see only what they cost. The model is the 64-unit `luong` preset on one
thread. Scratch files go to a temporary directory (--dir to choose
it), removed at the end. Prints a markdown table and the machine line; --json writes the rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from machine import print_machine  # benchmarks/machine.py: the machine line every benchmark prints

ROOT = Path(__file__).resolve().parents[1]
MODEL = ["--preset", "luong", "--set", "model.embedding_size=64", "--set", "model.encoder_hidden=64",
         "--set", "model.decoder_hidden=64", "--set", "train.threads=1", "--batch-size", "64", "--epochs", "1",
         "--quiet"]
DATA = ["--set", "data.tokenizer=word"]


def _words(rng: np.random.Generator, count: int) -> np.ndarray:
    syllables = np.array("ba be bi bo da de di do ein er en ge ha he in ka ke la le li ma me mi na ne no ra re "
                         "ri sa se si ta te ti un ve wa we zu".split())
    parts = rng.integers(0, len(syllables), size=(count, 3))
    sizes = rng.integers(1, 4, size=count)
    words = {"".join(syllables[p[:k]]) for p, k in zip(parts, sizes)}
    return np.array(sorted(words))


def write_corpus(path: Path, pairs: int, seed: int) -> None:
    """N tab-separated pairs of Multi30k-like length and Zipf-distributed pseudo-words."""
    rng = np.random.default_rng(seed)
    vocab = [_words(rng, 20000), _words(rng, 20000)]
    probs = [1 / (np.arange(len(v)) + 2.7) for v in vocab]
    probs = [p / p.sum() for p in probs]
    with open(path, "w", encoding="utf-8") as f:
        for start in range(0, pairs, 100_000):
            n = min(100_000, pairs - start)
            src_len = np.clip(rng.normal(12, 4, n).round(), 3, 40).astype(int)
            tgt_len = np.clip(src_len + rng.normal(1, 2, n).round(), 3, 40).astype(int)
            sides = []
            for lengths, words, p in ((src_len, vocab[0], probs[0]), (tgt_len, vocab[1], probs[1])):
                flat = words[rng.choice(len(words), size=int(lengths.sum()), p=p)].tolist()
                ends = np.cumsum(lengths).tolist()
                sides.append([" ".join(flat[a:b]) + " ." for a, b in zip([0] + ends[:-1], ends)])
            f.write("".join(f"{s}\t{t}\n" for s, t in zip(*sides)))


def child(argv: list[str]) -> None:
    """Run `seq2seq ARGV` in this process; `train` stops after its first optimiser step. Prints a JSON line with
    the wall clock then and the peak memory of this process and its children (MiB)."""
    from seq2seq.cli import main

    def report() -> None:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
        print("RESULT " + json.dumps({"time": time.time(), "peak_mib": max(me.ru_maxrss, kids.ru_maxrss) / 1024,
                                      "cpu_seconds": cpu, "main_cpu_seconds": me.ru_utime + me.ru_stime}),
              flush=True)

    if argv[0] == "train":  # torch is imported for training only, as by the command itself
        from seq2seq.training import loop

        update = loop.Trainer._update

        def first_step(self, group):  # type: ignore[no-untyped-def]
            result = update(self, group)
            report()
            os._exit(0)
            return result

        loop.Trainer._update = first_step
    code = main(argv)
    if code:
        sys.exit(code)  # no RESULT line: the parent reports the failure with this process's stderr
    report()


def measure(argv: list[str]) -> dict[str, float]:
    """Seconds from starting `seq2seq ARGV` in a fresh process to its report, and its peak memory."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    start = time.time()
    done = subprocess.run([sys.executable, __file__, "--child", *argv], capture_output=True, text=True, env=env)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"seq2seq {' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    result = json.loads(line[len("RESULT "):])
    return {"seconds": result["time"] - start, "cpu_seconds": result["cpu_seconds"],
            "main_cpu_seconds": result["main_cpu_seconds"], "peak_mib": result["peak_mib"]}


def speedup_table(rows: list[dict]) -> str:
    """Markdown: per size and worker count, the medians over the rounds, CPU per pair and the speed-up over 1."""
    lines = ["| pairs | workers | rounds | wall s (median) | CPU s (median) | CPU us per pair: all, main, workers | "
             "speed-up over 1 worker (median wall) |", "| ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    runs = [r for r in rows if r["path"] == "preprocess"]
    for pairs in sorted({r["pairs"] for r in runs}):
        mine = [r for r in runs if r["pairs"] == pairs]
        median = {w: statistics.median(r["seconds"] for r in mine if r["workers"] == w)
                  for w in {r["workers"] for r in mine}}
        for w in sorted(median):
            these = [r for r in mine if r["workers"] == w]
            cpu = statistics.median(r["cpu_seconds"] for r in these)
            main_cpu = statistics.median(r["main_cpu_seconds"] for r in these)
            us = lambda s, pairs=pairs: f"{1e6 * s / pairs:.1f}"  # noqa: E731
            speed = f"{median[1] / median[w]:.2f}x" if 1 in median else "-"
            lines.append(f"| {pairs:,} | {w} | {len(these)} | {median[w]:.1f} | {cpu:.1f} | {us(cpu)}, {us(main_cpu)}, "
                         f"{us(cpu - main_cpu)} | {speed} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", default="100000,1000000,10000000", help="corpus sizes, comma-separated")
    p.add_argument("--workers", default="1,2", help="preprocess worker counts to time")
    p.add_argument("--text-max", type=int, default=1_000_000, help="largest size also trained from the text file "
                   "(the text path holds ~1.4 KB per pair: 10M pairs would need ~14 GB)")
    p.add_argument("--rounds", type=int, default=1, help="preprocessing runs per worker count, alternating")
    p.add_argument("--preprocess-only", action="store_true", help="time preprocessing alone (no training rows)")
    p.add_argument("--dir", help="scratch directory (default: a temporary one)")
    p.add_argument("--json", help="write the rows here")
    p.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child is not None:
        child(args.child)
        return
    scratch = Path(args.dir or tempfile.mkdtemp(prefix="large_corpus_"))
    scratch.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        valid = scratch / "valid.tsv"
        write_corpus(valid, 1000, seed=99)
        for pairs in (int(n) for n in args.pairs.split(",")):
            corpus = scratch / f"train-{pairs}.tsv"
            started = time.time()
            write_corpus(corpus, pairs, seed=1)
            print(f"{pairs:,} pairs: corpus of {corpus.stat().st_size / 2**20:,.0f} MiB written in "
                  f"{time.time() - started:.0f} s", file=sys.stderr)
            data = None
            counts = [int(w) for w in args.workers.split(",")]
            for r in range(args.rounds):
                for workers in counts if r % 2 == 0 else counts[::-1]:
                    out = scratch / f"data-{pairs}-{workers}-{r}"
                    m = measure(["preprocess", "--train", str(corpus), "--valid", str(valid), *DATA, "--out",
                                 str(out), "--workers", str(workers), "--quiet"])
                    rows.append({"pairs": pairs, "path": "preprocess", "workers": workers, "round": r, **m,
                                 "pairs_per_s": pairs / m["seconds"], "pairs_per_cpu_s": pairs / m["cpu_seconds"]})
                    print(json.dumps(rows[-1]), file=sys.stderr)
                    if data is None:
                        data = out
                    else:
                        shutil.rmtree(out)
            if args.preprocess_only:
                shutil.rmtree(data)
                corpus.unlink()
                continue
            m = measure(["train", "--data", str(data), *MODEL, "--out", str(scratch / f"run-data-{pairs}")])
            rows.append({"pairs": pairs, "path": "train --data", **m})
            print(json.dumps(rows[-1]), file=sys.stderr)
            if pairs <= args.text_max:
                m = measure(["train", "--train", str(corpus), "--valid", str(valid), *DATA, *MODEL,
                             "--out", str(scratch / f"run-text-{pairs}")])
                rows.append({"pairs": pairs, "path": "train --train (text)", **m})
                print(json.dumps(rows[-1]), file=sys.stderr)
            shutil.rmtree(data)
            corpus.unlink()
    finally:
        if not args.dir:
            shutil.rmtree(scratch, ignore_errors=True)
    print("| pairs | command | workers | wall s | CPU s (main process) | pairs/s (wall) | pairs per CPU-s | "
          "peak RSS MiB |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        rates = f"{r['pairs_per_s']:,.0f} | {r['pairs_per_cpu_s']:,.0f}" if "pairs_per_s" in r else " | "
        print(f"| {r['pairs']:,} | {r['path']} | {r.get('workers', '')} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} "
              f"({r['main_cpu_seconds']:.1f}) | {rates} | {r['peak_mib']:,.0f} |")
    if args.rounds > 1:
        print()
        print(speedup_table(rows))
    print()
    print_machine()
    print(f"Python {platform.python_version()}, numpy {np.__version__}, CPUs {sorted(os.sched_getaffinity(0))}, "
          f"load average {os.getloadavg()[0]:.1f} at "
          f"the end; train rows: seconds from the command's start to the end of its first step")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
