"""Real recorded speech: digit strings composed from the Free Spoken Digit Dataset, recognised by a LAS model.

`../shared/data/fsdd/digits.npz` holds 3,000 recordings of single digits (6 speakers, 13 MFCCs per frame;
see its SOURCE.md). The recordings are split first, 80/10/10 per digit (seeded), so no test recording is
ever heard in training; then each split's recordings are joined end to end into utterances of 1-7
digits. Test strings of two or more digits never occur among the training strings (there are only ten
one-digit strings, all of which training needs). The splits are written with the toolkit's own
`write_npz` and trained through the ordinary `seq2seq train` command; the test recordings are also
scored one by one (single-digit accuracy) through `seq2seq.load(...).predict`.

    python benchmarks/spoken_digits_fsdd.py [--out runs/fsdd] [--config configs/fsdd-las.yaml] [--epochs 30]

Prints the exact `seq2seq train` command, a JSON summary and a markdown table row; writes both to
OUT/result.json and OUT/result.md.
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import seq2seq
from machine import print_machine  # benchmarks/machine.py: the machine line every benchmark prints
from seq2seq.cli import main as seq2seq_main
from seq2seq.data.feature_files import write_npz

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "fsdd" / "digits.npz"


def load_recordings(path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """The recordings as (frames, 13) arrays and their digits."""
    with np.load(path, allow_pickle=False) as d:
        frames, lengths, digits = d["X"].astype(np.float32), d["lengths"], d["y"]
    if int(lengths.sum()) != len(frames) or len(lengths) != len(digits):
        raise SystemExit(f"{path}: lengths sum to {int(lengths.sum())} for {len(frames)} frames")
    return np.split(frames, np.cumsum(lengths)[:-1]), digits


def split_recordings(digits: np.ndarray, seed: int) -> dict[str, list[int]]:
    """80/10/10 of each digit's recordings (so every split has every digit equally often)."""
    rng = random.Random(seed)
    split: dict[str, list[int]] = {"train": [], "valid": [], "test": []}
    for d in range(10):
        ids = [i for i in range(len(digits)) if digits[i] == d]
        rng.shuffle(ids)
        n_valid = n_test = len(ids) // 10
        split["test"] += ids[:n_test]
        split["valid"] += ids[n_test: n_test + n_valid]
        split["train"] += ids[n_test + n_valid:]
    return split


def compose(pool: list[int], digits: np.ndarray, n: int, rng: random.Random, max_digits: int,
            avoid: set[str]) -> list[list[int]]:
    """n utterances of 1-`max_digits` recordings drawn from `pool`; strings of two or more digits in
    `avoid` are redrawn."""
    out: list[list[int]] = []
    while len(out) < n:
        ids = [rng.choice(pool) for _ in range(rng.randint(1, max_digits))]
        text = "".join(str(digits[i]) for i in ids)
        if len(text) > 1 and text in avoid:
            continue
        out.append(ids)
    return out


def write_split(path: Path, utterances: list[list[int]], recordings: list[np.ndarray], digits: np.ndarray) -> None:
    """Frames of each utterance's recordings joined end to end, its digits as the transcript."""
    feats = [np.concatenate([recordings[i] for i in u], 0) for u in utterances]
    write_npz(path, feats, ["".join(str(digits[i]) for i in u) for u in utterances])


def single_digit_accuracy(run: Path, ids: list[int], recordings: list[np.ndarray], digits: np.ndarray) -> float:
    """Test recordings recognised one by one: the share transcribed as exactly their digit."""
    predicted = seq2seq.load(run).predict([recordings[i] for i in ids])
    return sum(p == str(digits[i]) for p, i in zip(predicted, ids)) / len(ids)


def compose_splits(args: argparse.Namespace, recordings: list[np.ndarray], digits: np.ndarray,
                   data: Path) -> list[int]:
    """Split the recordings, compose and write train/valid/test.npz into `data`; returns the test recordings."""
    split = split_recordings(digits, args.seed)
    rng = random.Random(args.seed)
    # Test strings first, so that no training string repeats one.
    test = compose(split["test"], digits, args.test, rng, args.max_digits, set())
    held_out = {"".join(str(digits[i]) for i in u) for u in test}
    valid = compose(split["valid"], digits, args.valid, rng, args.max_digits, held_out)
    train = compose(split["train"], digits, args.train, rng, args.max_digits, held_out)
    for name, utterances in (("train", train), ("valid", valid), ("test", test)):
        write_split(data / f"{name}.npz", utterances, recordings, digits)
    return split["test"]


def summary(args: argparse.Namespace, run: Path, command: str, seconds: tuple[float, float],
            single: float) -> dict[str, Any]:
    """The measured figures of a finished run."""
    metrics = json.loads((run / "test_metrics.json").read_text())
    history = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    best = min(history, key=lambda r: r["valid_cer"])
    return {"test_cer": round(metrics["test_cer"], 4), "test_exact_match": round(metrics["test_exact_match"], 4),
            "single_digit_accuracy": round(single, 4), "test_utterances": args.test, "train_utterances": args.train,
            "epochs": round(history[-1]["epoch"]), "best_epoch": round(best["epoch"]),
            "train_seconds": round(seconds[0], 1), "train_cpu_seconds": round(seconds[1], 1),
            "parameters": sum(p.numel() for p in seq2seq.load(run).net.parameters()),
            "threads": args.threads, "command": command}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DATA), help="digits.npz (default ../shared/data/fsdd/digits.npz)")
    ap.add_argument("--out", default="runs/fsdd")
    ap.add_argument("--config", default="configs/fsdd-las.yaml", help="config file given to `seq2seq train`")
    ap.add_argument("--train", type=int, default=12000, help="composed training utterances")
    ap.add_argument("--valid", type=int, default=300)
    ap.add_argument("--test", type=int, default=500)
    ap.add_argument("--max-digits", type=int, default=7)
    ap.add_argument("--epochs", type=int, help="overrides the config's train.epochs")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1, help="seeds the split, the composition and training")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra config overrides")
    args = ap.parse_args(argv)
    print_machine()
    if not Path(args.data).is_file():
        print(f"{args.data}: not found (the shared data lives in ../shared/data/fsdd)", file=sys.stderr)
        return 2
    out = Path(args.out)
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    recordings, digits = load_recordings(Path(args.data))
    test_recordings = compose_splits(args, recordings, digits, data)
    run = out / "run"
    cmd = ["train", "--train", str(data / "train.npz"), "--valid", str(data / "valid.npz"),
           "--test", str(data / "test.npz"), "--config", args.config, "--seed", str(args.seed),
           "--set", f"train.threads={args.threads}", "--out", str(run)]
    if args.epochs:
        cmd += ["--epochs", str(args.epochs)]
    for item in args.set:
        cmd += ["--set", item]
    print("seq2seq " + shlex.join(cmd), flush=True)
    # CPU seconds too: on a shared machine the wall time says more about the neighbours than the run.
    start, cpu = time.perf_counter(), time.process_time()
    status = seq2seq_main(cmd)
    seconds = time.perf_counter() - start, time.process_time() - cpu
    if status:
        return status
    single = single_digit_accuracy(run, test_recordings, recordings, digits)
    result = summary(args, run, "seq2seq " + shlex.join(cmd), seconds, single)
    row = (f"| {result['test_cer']:.2%} | {result['test_exact_match']:.1%} | {result['single_digit_accuracy']:.1%} "
           f"| {result['epochs']} ({result['best_epoch']}) | {result['train_seconds'] / 60:.0f} min "
           f"({result['train_cpu_seconds'] / 60:.0f} min CPU) | {result['parameters']:,} |")
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    header = "| test CER | exact match | single digits | epochs (best) | training | parameters |\n"
    (out / "result.md").write_text(header + "| ---: | ---: | ---: | ---: | ---: | ---: |\n" + row + "\n")
    print(json.dumps(result))
    print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
