"""Generation speed of two revisions of the package on one trained model, both engines (PyTorch and ONNX).

    python benchmarks/search_compare.py --base e7dc765 --pin 0                  # trains a small date model first
    python benchmarks/search_compare.py --base e7dc765 --run RUN_DIR --rounds 5 --pin 0

The base revision's package (checked out into a temporary git worktree) and this checkout's run alternately
(A B B A ...) as child processes pinned to `--pin`, each loading the same run directory on the PyTorch engine
and the same ONNX export, then timing greedy and beam-5 generation of the same encoded test sources (one
thread, no attention kept; the process's CPU time, the fastest of `--repeats` passes). Reported: each side's
median sentences/s, the ratio this/base per engine and strategy, and the spread of the per-round ratios, as a
Markdown table after the machine line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import print_machine  # benchmarks/machine.py: the machine line every benchmark prints

ROOT = Path(__file__).resolve().parents[1]
CASES = (("torch", "greedy", 1), ("torch", "beam5", 5), ("onnx", "greedy", 1), ("onnx", "beam5", 5))


def worker(args) -> None:
    """One measurement with whatever `seq2seq` is first on the path; JSON to args.worker."""
    import torch

    import seq2seq
    from seq2seq.config import DecodeConfig

    torch.set_num_threads(1)
    print(f"package: {Path(seq2seq.__file__).parents[1]}", file=sys.stderr)
    models = {"torch": seq2seq.load(args.run), "onnx": seq2seq.load(args.export, threads=1)}
    lines = Path(args.sources).read_text(encoding="utf-8").splitlines()
    result = {}
    for engine, name, beam in CASES:
        model = models[engine]
        sources = [model.source.encode(line) for line in lines]
        options = DecodeConfig(strategy="greedy" if beam == 1 else "beam", beam_size=beam, batch_size=args.batch,
                               max_length=args.max_length, seed=1)
        model.generate(sources[: args.batch], options)  # warm-up
        seconds = []
        # CPU time of this process (one thread), the fastest pass: what other processes on the core disturb least.
        for _ in range(args.repeats):
            start = time.process_time()
            model.generate(sources, options)
            seconds.append(time.process_time() - start)
        result[f"{engine}/{name}"] = len(sources) / min(seconds)
    Path(args.worker).write_text(json.dumps(result))


def train_run(out: Path) -> Path:
    """A small attention model of the date task, trained for a minute (outputs of realistic length)."""
    subprocess.run([sys.executable, "-m", "seq2seq", "train", "--preset", "attention", "--out", str(out),
                    "--set", "data.task=date", "--set", "train.epochs=2", "--set", "model.encoder_hidden=128",
                    "--set", "model.decoder_hidden=128", "--set", "data.train_size=6000"], check=True,
                   stdout=subprocess.DEVNULL)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default="e7dc765", help="git revision to compare this checkout against")
    p.add_argument("--run", help="run directory of a trained model (default: train a small date model)")
    p.add_argument("--sentences", type=int, default=500)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--max-length", type=int, default=0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3, help="timed passes per case in each round (the fastest counts)")
    p.add_argument("--pin", help="taskset CPU list for the children, e.g. 0")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--export", help=argparse.SUPPRESS)
    p.add_argument("--sources", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    print_machine()
    tmp = Path(tempfile.mkdtemp(prefix="search-compare-"))
    base = tmp / "base"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.base], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run = Path(args.run) if args.run else train_run(tmp / "run")
        from seq2seq.data.tasks import generate_splits
        from seq2seq.export import export_onnx

        export = export_onnx(run, tmp / "export")
        test = generate_splits("date", 10, 10, args.sentences, 99)["test"]
        (tmp / "sources.txt").write_text("".join(s + "\n" for s, _ in test), encoding="utf-8")
        sides = {"base": str(base / "src"), "this": str(ROOT / "src")}
        times: dict[str, list[dict]] = {"base": [], "this": []}
        for r in range(args.rounds):
            for side in (("base", "this") if r % 2 == 0 else ("this", "base")):
                out = tmp / f"{side}-{r}.json"
                cmd = [sys.executable, __file__, "--worker", str(out), "--run", str(run), "--export", str(export),
                       "--sources", str(tmp / "sources.txt"), "--batch", str(args.batch),
                       "--max-length", str(args.max_length), "--repeats", str(args.repeats)]
                if args.pin:
                    cmd = ["taskset", "-c", args.pin] + cmd
                env = {**os.environ, "PYTHONPATH": sides[side], "OMP_NUM_THREADS": "1"}
                subprocess.run(cmd, check=True, env=env)
                times[side].append(json.loads(out.read_text()))
                print(f"round {r + 1} {side}: " + ", ".join(f"{k} {v:.1f}" for k, v in times[side][-1].items()),
                      file=sys.stderr, flush=True)
        print(table(times, args))
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)


def table(times: dict[str, list[dict]], args) -> str:
    """Markdown: medians, the ratio of medians and the spread of per-round ratios."""
    lines = [f"{args.sentences} date sentences, batch {args.batch}, {args.rounds} alternating rounds (the fastest of "
             f"{args.repeats} passes each, process CPU time), one thread",
             "", f"| engine / strategy | {args.base} sent/s | this sent/s | this / base | per-round ratios |",
             "| --- | ---: | ---: | ---: | --- |"]
    for key in times["base"][0]:
        a = statistics.median(t[key] for t in times["base"])
        b = statistics.median(t[key] for t in times["this"])
        ratios = sorted(y[key] / x[key] for x, y in zip(times["base"], times["this"]))
        lines.append(f"| {key} | {a:.1f} | {b:.1f} | {b / a:.3f} | {ratios[0]:.3f} - {ratios[-1]:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
