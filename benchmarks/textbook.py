"""The textbook's experiments on the textbook's own files, timed against the textbook's own NumPy code run in the
same invocation, on the same core, with one thread.

Trains through the ordinary `seq2seq train --train/--valid` path on `addition.txt` and `date.txt` (45,000 / 5,000
split, as the book) and times an epoch (training + validation) of the book's code (Saito, *Deep Learning from
Scratch 2*, MIT; `../shared/baselines/dlfs2`, run by `dlfs2_epoch.py`) before and after each of our runs; the
speed-up divides the faster of the book's two rounds by our mean epoch. Accuracy by epoch is shown beside the
book's own figures. Then the addition training step against a plain PyTorch loop of the same model
(`plain_loop.py`), in one pinned process.

The roofline (`roofline.py`): the core's float32 (and bf16) matmul peak is measured on the same core in the same
invocation, each side's FLOPs per epoch are counted from its model's weights and the lengths it runs, and each
row shows both sides' achieved GFLOP/s and the largest speed-up the peak allows (the book's epoch over ours if
every FLOP of ours ran at the peak). Natively the book's NumPy runs with its BLAS's widest kernels
(`OPENBLAS_CORETYPE` unset); `--avx2-emulation` holds both sides to AVX2.

    python benchmarks/textbook.py [--book-dir ../shared/data/book] [--baseline ../shared/baselines/dlfs2]
    python benchmarks/textbook.py --avx2-emulation        # every child restricted to AVX2 (an emulation)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from machine import machine_line  # benchmarks/machine.py: the machine line every benchmark prints

SHARED = Path(__file__).resolve().parents[2] / "shared"
# The book's validation accuracy by epoch from its own runs (exact match, %), the accuracy to match or beat.
TEXTBOOK_EXACT = {("addition", "baseline"): {10: 3.8, 25: 10.0}, ("addition", "reverse"): {10: 29.8, 25: 54.1},
                  ("addition", "reverse-peeky"): {10: 88.4, 25: 98.1},
                  ("date", "attention"): {1: 0.0, 2: 51.7, 3: 99.9}}
# An AVX2-only machine emulated on a wider one, for every library of both sides: ATen, MKL and oneDNN in torch;
# OpenBLAS and NumPy's own loops in the book's code.
AVX2_EMULATION = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                  "OPENBLAS_CORETYPE": "Haswell", "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
HERE = Path(__file__).resolve().parent


def book_env() -> dict[str, str]:
    """The book's process environment: one thread; natively OpenBLAS picks its own kernels (a machine-wide
    OPENBLAS_CORETYPE would hold it to another CPU's), under the emulation it keeps AVX2_EMULATION's."""
    env = {**os.environ, **ONE_THREAD}
    if os.environ.get("ATEN_CPU_CAPABILITY") != "avx2":
        env.pop("OPENBLAS_CORETYPE", None)
    return env


def peaks(core: str | None) -> dict[str, float]:
    """The core's matmul peaks (GFLOP/s) measured now in pinned children: torch's (fp32 BLAS, fp32 oneDNN, bf16
    where the CPU has it) in ours' environment, NumPy's in the book's."""
    ours = subprocess.run(pinned([sys.executable, str(HERE / "roofline.py")], core), check=True,
                          capture_output=True, text=True, env={**os.environ, **ONE_THREAD})
    book = subprocess.run(pinned([sys.executable, str(HERE / "roofline.py"), "--numpy"], core), check=True,
                          capture_output=True, text=True, env=book_env())
    return {**json.loads(ours.stdout.strip().splitlines()[-1]), **json.loads(book.stdout.strip().splitlines()[-1])}


def split(book: Path, out: Path) -> tuple[Path, Path]:
    """The book's 90/10 split of a file (shuffled with the book's seed value), as two files."""
    lines = book.read_text(encoding="utf-8").splitlines(keepends=True)
    random.Random(1984).shuffle(lines)
    cut = len(lines) - len(lines) // 10
    train, valid = out / f"{book.stem}.train.txt", out / f"{book.stem}.valid.txt"
    train.write_text("".join(lines[:cut]), encoding="utf-8")
    valid.write_text("".join(lines[cut:]), encoding="utf-8")
    return train, valid


def pinned(cmd: list[str], core: str | None) -> list[str]:
    """`cmd` under taskset on `core` (when given and taskset exists)."""
    return ["taskset", "-c", core] + cmd if core is not None and shutil.which("taskset") else cmd


def run(task: str, preset: str, epochs: int, files: tuple[Path, Path], out: Path, core: str | None,
        sets: list[str]) -> dict:
    """Train one variant and summarise its metrics."""
    run_dir = out / f"{task}-{preset}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    cmd = [sys.executable, "-m", "seq2seq", "train", "--train", str(files[0]), "--valid", str(files[1]),
           "--preset", preset, "--epochs", str(epochs), "--out", str(run_dir), "--quiet",
           "--set", "train.threads=1", "--set", "train.early_stopping_metric=valid_exact_match"]
    for s in sets:
        cmd += ["--set", s]
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(pinned(cmd, core), check=True, env={**os.environ, **ONE_THREAD})
    after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter() - start
    # The share of the core the run got: on a shared core its epochs' CPU seconds are about wall x share.
    share = min(1.0, (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / wall)
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train_s = rows[-1]["seconds"] / len(rows)
    eval_s = sum(r["eval_seconds"] for r in rows) / len(rows)
    from roofline import ours_flops

    return {"task": task, "preset": preset, "train_s": train_s, "eval_s": eval_s, "flops": ours_flops(run_dir),
            "cpu_share": share,
            "exact": {int(r["epoch"]): round(r["valid_exact_match"] * 100, 1) for r in rows}}


def book_epoch(task: str, preset: str, baseline: Path, core: str | None, steps: int, questions: int) -> dict:
    """One timing of the book's epoch (`dlfs2_epoch.py`) on the same core with one thread."""
    cmd = [sys.executable, str(Path(__file__).with_name("dlfs2_epoch.py")), "--task", task, "--variant", preset,
           "--book", str(baseline), "--steps", str(steps), "--valid", str(questions)]
    done = subprocess.run(pinned(cmd, core), check=True, capture_output=True, text=True, env=book_env())
    return json.loads(done.stdout.strip().splitlines()[-1])


def step_against_plain_loop(train: Path, out: Path, core: str | None) -> dict:
    """The addition training step against the plain PyTorch loop (`plain_loop.py`), pinned like the runs."""
    result = out / "plain_loop.json"
    cmd = [sys.executable, str(Path(__file__).with_name("plain_loop.py")), "--train", str(train), "--out", str(result)]
    subprocess.run(pinned(cmd, core), check=True, stdout=subprocess.DEVNULL, env={**os.environ, **ONE_THREAD})
    return json.loads(result.read_text())


def roofline_table(results: list[dict], peak: dict[str, float]) -> list[str]:
    """Per row: FLOPs per epoch of both sides, the GFLOP/s each achieved per CPU second, and the largest speed-up
    each peak allows (the book's epoch in CPU seconds over ours at that peak)."""
    names = ["fp32"] + (["bf16"] if "bf16" in peak else [])
    lines = ["", "peak (best single-thread matmul, GFLOP/s, measured now): " + ", ".join(
        f"{k} {v:.0f}" for k, v in peak.items() if k != "fp32") + "; roofline = the book's CPU s/epoch / (ours "
        "GFLOP/epoch / peak): the largest speed-up the core allows", "",
        "| task | variant | ours GFLOP/epoch (train + eval) | book GFLOP/epoch | ours GFLOP/s | book GFLOP/s | "
        "CPU-time speed-up | " + " | ".join(f"roofline at {n} peak" for n in names) + " |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in names) + " |"]
    for r in results:
        f, b = r["flops"], r["book"]
        ours_gflop = f["train_gflop"] + f["valid_gflop"]
        book_gflop = b["train_gflop_per_epoch"] + b["valid_gflop_per_epoch"]
        ours_cpu = (r["train_s"] + r["eval_s"]) * r["cpu_share"]
        book_cpu = min(x["cpu_total"] for x in r["book_rounds"])
        r["roofline"] = {n: book_cpu / (ours_gflop / peak[n]) for n in names}
        lines.append(f"| {r['task']} | {r['preset']} | {f['train_gflop']:.0f} + {f['valid_gflop']:.0f} | "
                     f"{b['train_gflop_per_epoch']:.0f} + {b['valid_gflop_per_epoch']:.0f} | "
                     f"{ours_gflop / ours_cpu:.0f} | {book_gflop / book_cpu:.0f} | {book_cpu / ours_cpu:.2f}x | "
                     + " | ".join(f"{r['roofline'][n]:.2f}x" for n in names) + " |")
    return lines


def table(results: list[dict], machine: str, args: argparse.Namespace, peak: dict[str, float]) -> str:
    """The markdown tables: our epoch, the book's, the speed-up, accuracy by epoch beside the book's; then the
    roofline."""
    lines = [machine, f"one core ({'not pinned' if args.no_pin else 'CPU ' + args.core}), one thread; the book's "
             f"epoch from its first {args.book_steps or 'all'} steps and {args.book_questions or 'all'} validation "
             f"questions, faster of 2 rounds around ours (its NumPy with OPENBLAS_CORETYPE="
             f"{book_env().get('OPENBLAS_CORETYPE', 'unset')}); our settings: "
             f"{' '.join(args.set) or 'the presets'}", "",
             "| task | variant | ours train s/epoch | ours eval s/epoch | ours total | book train | book eval | "
             "book total | speed-up | CPU-time speed-up | exact match by epoch (ours / book) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in results:
        total, b = r["train_s"] + r["eval_s"], r["book"]
        book_cpu = min(x["cpu_total"] for x in r["book_rounds"])
        ref = TEXTBOOK_EXACT.get((r["task"], r["preset"]), {})
        marks = ", ".join(f"{e}: {r['exact'][e]}%" + (f" / {ref[e]}%" if e in ref else "")
                          for e in sorted(r["exact"]) if e in ref or e in (1, 5, 10, 15, 20, 25))
        lines.append(f"| {r['task']} | {r['preset']} | {r['train_s']:.2f} | {r['eval_s']:.2f} | {total:.2f} | "
                     f"{b['train_s_per_epoch']:.2f} | {b['valid_s_per_epoch']:.2f} | {b['total']:.2f} | "
                     f"{b['total'] / total:.2f}x | {book_cpu / (total * r['cpu_share']):.2f}x | {marks} |")
    lines += ["", "CPU-time speed-up: the book's epoch in its thread's CPU seconds over ours, our wall seconds times "
              "the share of the core our run got (its CPU time over its wall time): the ratio a shared core distorts "
              "least"]
    return "\n".join(lines + roofline_table(results, peak))


def main() -> None:
    """Run the variants beside the book's code and print the comparison."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--book-dir", default=str(SHARED / "data" / "book"), help="addition.txt and date.txt")
    p.add_argument("--baseline", default=str(SHARED / "baselines" / "dlfs2"), help="the book's code")
    p.add_argument("--out", default="runs/textbook")
    p.add_argument("--variants", default="addition:reverse-peeky:25,date:attention:3",
                   help="task:preset:epochs, comma-separated (e.g. add addition:baseline:25)")
    p.add_argument("--set", action="append", default=[], help="config override for our runs (repeatable)")
    p.add_argument("--book-steps", type=int, default=40, help="book training steps timed per round (0 = epoch)")
    p.add_argument("--book-questions", type=int, default=500, help="book validation questions per round (0 = all)")
    p.add_argument("--core", default="0", help="CPU to pin each run to (taskset)")
    p.add_argument("--no-pin", action="store_true", help="do not pin to a core")
    p.add_argument("--avx2-emulation", action="store_true",
                   help="restrict every library of every child to AVX2: " + " ".join(f"{k}={v!r}" for k, v in
                                                                                   AVX2_EMULATION.items()))
    p.add_argument("--no-plain-loop", action="store_true", help="skip the addition step against the plain loop")
    p.add_argument("--from-json", help="print the tables of an earlier invocation's textbook.json and stop")
    args = p.parse_args()
    if args.from_json:
        summary = json.loads(Path(args.from_json).read_text())
        print(table(summary["variants"], summary["machine"], argparse.Namespace(**summary["args"]), summary["peaks"]))
        return
    if args.avx2_emulation:
        os.environ.update(AVX2_EMULATION)
    machine = machine_line()  # printed with the table
    book, baseline, out = Path(args.book_dir), Path(args.baseline), Path(args.out)
    if not (book / "addition.txt").is_file():
        sys.exit(f"{book}: the textbook's addition.txt/date.txt are not there; pass --book-dir")
    if not (baseline / "common" / "time_layers.py").is_file():
        sys.exit(f"{baseline}: the book's code (common/, ch07/, ch08/) is not there; pass --baseline")
    out.mkdir(parents=True, exist_ok=True)
    files = {t: split(book / f"{t}.txt", out) for t in ("addition", "date")}
    core = None if args.no_pin else args.core
    peak = peaks(core)
    print("peaks (GFLOP/s): " + json.dumps({k: round(v, 1) for k, v in peak.items()}), file=sys.stderr, flush=True)
    results = []
    for spec in args.variants.split(","):
        task, preset, epochs = spec.split(":")
        rounds = [book_epoch(task, preset, baseline, core, args.book_steps, args.book_questions)]
        r = run(task, preset, int(epochs), files[task], out, core, args.set)
        rounds.append(book_epoch(task, preset, baseline, core, args.book_steps, args.book_questions))
        for b in rounds:
            b["total"] = b["train_s_per_epoch"] + b["valid_s_per_epoch"]
            b["cpu_total"] = b["cpu_train_s_per_epoch"] + b["cpu_valid_s_per_epoch"]
        r["book"], r["book_rounds"] = min(rounds, key=lambda b: b["total"]), rounds
        results.append(r)
        book_s = ", ".join(f"{b['total']:.2f}" for b in rounds)
        print(f"{task} {preset}: ours {r['train_s'] + r['eval_s']:.2f} s/epoch, book {book_s} s/epoch",
              file=sys.stderr, flush=True)
    md = table(results, machine, args, peak)
    print(md)
    summary: dict = {"machine": machine, "peaks": peak, "variants": results, "args": vars(args)}
    if not args.no_plain_loop:
        step = step_against_plain_loop(files["addition"][0], out, core)
        summary["addition_step"] = step
        line = (f"addition training step (CPU time, alternating rounds, one process): plain PyTorch loop "
                f"{step['plain_ms']:.2f} ms, reverse-peeky {step['toolkit_ms']:.2f} ms: {step['speedup']:.2f}x the "
                f"plain loop; matmul ceiling {step['matmul_peak_gflops']:.0f} GFLOP/s, reached "
                f"{100 * step['toolkit_fraction_of_peak']:.0f}% by the toolkit ({step['toolkit_gflop']:.3f} GFLOP a "
                f"step), {100 * step['plain_fraction_of_peak']:.0f}% by the plain loop "
                f"({step['plain_gflop']:.3f} GFLOP)")
        print(line)
        md += "\n\n" + line
    (out / "textbook.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "textbook.md").write_text(md + "\n")


if __name__ == "__main__":
    main()
