"""Spoken digits: synthesise a small corpus with espeak-ng, train `las` (or --preset), report character error rate.

Utterances are strings of 1-5 digits ("three one four" -> target `314`), spoken by several espeak-ng
voices at several speeds and pitches; test strings never occur in training. Features are 80 log-mel
filterbanks (25 ms / 10 ms) from `seq2seq.data.audio`, written as .npz with `seq2seq.data.feature_files.write_npz`;
training goes through the ordinary `seq2seq.train` path with `--preset las` (or `--preset
speech-transformer`).

    apt-get install espeak-ng
    python benchmarks/speech_digits.py [--out runs/speech-digits] [--train 3000] [--epochs 8] [--threads 1]

Prints a JSON summary (CER, exact match, seconds) and writes it to OUT/result.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import seq2seq
from machine import print_machine  # benchmarks/machine.py: the machine line every benchmark prints
from seq2seq.data.audio import espeak_available, synthesise, wav_to_fbank
from seq2seq.data.feature_files import write_npz

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
VOICES = ["en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us+f3", "en-gb+m3", "en-us+f2"]
SPEEDS = (120, 200)
PITCHES = (30, 70)


def digit_strings(n: int, rng: random.Random, exclude: set[str]) -> list[str]:
    """n distinct digit strings of length 1-5 not in `exclude` (which they are added to)."""
    out = []
    while len(out) < n:
        s = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 5)))
        if s not in exclude:
            exclude.add(s)
            out.append(s)
    return out


def build_split(name: str, strings: list[str], rng: random.Random, wav_dir: Path, out: Path, jobs: int) -> Path:
    """Speak each string with a random voice/speed/pitch, compute filterbanks, write OUT/<name>.npz."""
    specs = [(s, rng.choice(VOICES), rng.randint(*SPEEDS), rng.randint(*PITCHES)) for s in strings]
    wav_dir.mkdir(parents=True, exist_ok=True)

    def one(i: int) -> object:
        text, voice, speed, pitch = specs[i]
        wav = wav_dir / f"{name}-{i:05d}.wav"
        synthesise(" ".join(WORDS[int(c)] for c in text), wav, voice, speed, pitch)
        return wav_to_fbank(wav)

    with ThreadPoolExecutor(jobs) as pool:
        feats = list(pool.map(one, range(len(specs))))
    path = out / f"{name}.npz"
    write_npz(path, feats, strings)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/speech-digits")
    ap.add_argument("--preset", default="las", help="las, or its Transformer counterpart speech-transformer")
    ap.add_argument("--train", type=int, default=3000, help="training utterances")
    ap.add_argument("--valid", type=int, default=200)
    ap.add_argument("--test", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (more than the free cores slows LSTMs sharply)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra config overrides")
    args = ap.parse_args(argv)
    print_machine()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not espeak_available():
        print("espeak-ng is not installed (Debian: apt-get install espeak-ng)", file=sys.stderr)
        return 2
    out = Path(args.out)
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    seen: set[str] = set()
    start = time.perf_counter()
    # Test strings are drawn first, so training never hears a test string (in any voice).
    paths = {name: build_split(name, digit_strings(n, rng, seen), rng, data / "wav", data, args.threads)
             for name, n in (("test", args.test), ("valid", args.valid), ("train", args.train))}
    synth_seconds = time.perf_counter() - start
    overrides = {"data.train": str(paths["train"]), "data.valid": str(paths["valid"]),
                 "data.test": str(paths["test"]), "train.epochs": args.epochs, "train.threads": args.threads,
                 "train.batch_size": 32, "train.lr": 0.002, "train.seed": args.seed,
                 **dict(item.split("=", 1) for item in args.set)}
    cfg = seq2seq.build_config(args.preset, overrides=overrides)
    run = out / "run"
    start, cpu = time.perf_counter(), time.process_time()
    seq2seq.train(cfg, run)
    train_seconds, train_cpu = time.perf_counter() - start, time.process_time() - cpu
    test = json.loads((run / "test_metrics.json").read_text())
    result = {"test_cer": round(test["test_cer"], 4), "test_exact_match": round(test["test_exact_match"], 4),
              "train_utterances": args.train, "test_utterances": args.test, "epochs": args.epochs,
              "voices": len(VOICES), "synthesis_seconds": round(synth_seconds, 1),
              "train_seconds": round(train_seconds, 1), "train_cpu_seconds": round(train_cpu, 1),
              "threads": args.threads, "preset": args.preset,
              "parameters": sum(p.numel() for p in seq2seq.load(run).net.parameters())}
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
