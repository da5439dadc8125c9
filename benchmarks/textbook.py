"""The textbook's experiments on the textbook's own files, timed against the textbook's own NumPy code.

Trains through the ordinary `seq2seq train --train/--valid` path on `addition.txt` and `date.txt`
(45,000 / 5,000 split, as the book), one pinned core and one thread, and prints per-epoch time
(training + validation) as a ratio to the textbook's measured figures, the fraction of the training
compute floor, and the accuracy targets of the demo issue. Then the addition training step against a plain
PyTorch loop of the same model (`plain_loop.py`), in one pinned process.

    python benchmarks/textbook.py [--book-dir ../shared/data/book] [--out runs/textbook]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

from machine import print_machine  # benchmarks/machine.py: the machine line every benchmark prints

# Measured on this kind of machine with the textbook's NumPy code, one core (the figures).
TEXTBOOK_SECONDS_PER_EPOCH = {"addition": 8.9, "date": 155.0}
TEXTBOOK_EXACT = {("addition", "baseline"): {10: 3.8, 25: 10.0}, ("addition", "reverse"): {10: 29.8, 25: 54.1},
                  ("addition", "reverse-peeky"): {10: 88.4, 25: 98.1}, ("date", "attention"): {1: 0.0, 2: 51.7, 3: 99.9}}
# Forward + backward of both LSTMs, ~0.83 GFLOP a step, 352 steps, at ~135 GFLOP/s on one core.
ADDITION_TRAIN_FLOOR_SECONDS = 2.1


def split(book: Path, out: Path) -> tuple[Path, Path]:
    """The book's 90/10 split of a file (shuffled with the book's seed value), as two files."""
    lines = book.read_text(encoding="utf-8").splitlines(keepends=True)
    random.Random(1984).shuffle(lines)
    cut = len(lines) - len(lines) // 10
    train, valid = out / f"{book.stem}.train.txt", out / f"{book.stem}.valid.txt"
    train.write_text("".join(lines[:cut]), encoding="utf-8")
    valid.write_text("".join(lines[cut:]), encoding="utf-8")
    return train, valid


def run(task: str, preset: str, epochs: int, files: tuple[Path, Path], out: Path, core: str | None) -> dict:
    """Train one variant and summarise its metrics."""
    run_dir = out / f"{task}-{preset}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    cmd = [sys.executable, "-m", "seq2seq", "train", "--train", str(files[0]), "--valid", str(files[1]),
           "--preset", preset, "--epochs", str(epochs), "--out", str(run_dir), "--quiet",
           "--set", "train.threads=1", "--set", "train.early_stopping_metric=valid_exact_match"]
    if core is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", core] + cmd
    subprocess.run(cmd, check=True)
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train_s = rows[-1]["seconds"] / len(rows)
    eval_s = sum(r["eval_seconds"] for r in rows) / len(rows)
    return {"task": task, "preset": preset, "train_s": train_s, "eval_s": eval_s,
            "exact": {int(r["epoch"]): round(r["valid_exact_match"] * 100, 1) for r in rows}}


def step_against_plain_loop(train: Path, out: Path, core: str | None) -> dict:
    """The addition training step against the plain PyTorch loop (`plain_loop.py`), pinned like the runs."""
    result = out / "plain_loop.json"
    cmd = [sys.executable, str(Path(__file__).with_name("plain_loop.py")), "--train", str(train), "--out", str(result)]
    if core is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", core] + cmd
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads(result.read_text())


def main() -> None:
    """Run the variants and print the comparison."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--book-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "book"))
    p.add_argument("--out", default="runs/textbook")
    p.add_argument("--variants", default="addition:reverse-peeky:25,date:attention:3",
                   help="task:preset:epochs, comma-separated (e.g. add addition:baseline:25)")
    p.add_argument("--core", default="0", help="CPU to pin each run to (taskset)")
    p.add_argument("--no-pin", action="store_true", help="do not pin to a core")
    p.add_argument("--no-plain-loop", action="store_true", help="skip the addition step against the plain loop")
    args = p.parse_args()
    print_machine()
    book, out = Path(args.book_dir), Path(args.out)
    if not (book / "addition.txt").is_file():
        sys.exit(f"{book}: the textbook's addition.txt/date.txt are not there; pass --book-dir")
    out.mkdir(parents=True, exist_ok=True)
    files = {t: split(book / f"{t}.txt", out) for t in ("addition", "date")}
    results = []
    for spec in args.variants.split(","):
        task, preset, epochs = spec.split(":")
        results.append(run(task, preset, int(epochs), files[task], out, None if args.no_pin else args.core))
    print("| task | variant | train s/epoch | eval s/epoch | total | textbook | speed-up | exact match by epoch "
          "(ours / textbook) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        total = r["train_s"] + r["eval_s"]
        book_s = TEXTBOOK_SECONDS_PER_EPOCH[r["task"]]
        ref = TEXTBOOK_EXACT.get((r["task"], r["preset"]), {})
        marks = ", ".join(f"{e}: {r['exact'][e]}%" + (f" / {ref[e]}%" if e in ref else "")
                          for e in sorted(r["exact"]) if e in ref or e in (1, 5, 10, 15, 20, 25))
        print(f"| {r['task']} | {r['preset']} | {r['train_s']:.2f} | {r['eval_s']:.2f} | {total:.2f} | {book_s} | "
              f"{book_s / total:.2f}x | {marks} |")
        if r["task"] == "addition":
            print(f"\n(addition training at {ADDITION_TRAIN_FLOOR_SECONDS / r['train_s'] * 100:.0f}% of the "
                  f"{ADDITION_TRAIN_FLOOR_SECONDS} s/epoch compute floor)\n")
    summary: dict = {"variants": results}
    if not args.no_plain_loop:
        step = step_against_plain_loop(files["addition"][0], out, None if args.no_pin else args.core)
        summary["addition_step"] = step
        print(f"addition training step (CPU time, alternating rounds, one process): plain PyTorch loop "
              f"{step['plain_ms']:.2f} ms, reverse-peeky {step['toolkit_ms']:.2f} ms: {step['speedup']:.2f}x the "
              f"plain loop; matmul ceiling {step['matmul_peak_gflops']:.0f} GFLOP/s, reached "
              f"{100 * step['toolkit_fraction_of_peak']:.0f}% by the toolkit ({step['toolkit_gflop']:.3f} GFLOP a step), "
              f"{100 * step['plain_fraction_of_peak']:.0f}% by the plain loop ({step['plain_gflop']:.3f} GFLOP)")
    (out / "textbook.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
