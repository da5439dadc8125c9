"""The ONNX engine against the PyTorch path on one model: equality, throughput and latency.

    python benchmarks/onnx_engine.py --checkpoint RUN_DIR --pin 0            # a trained run: its test split
    python benchmarks/onnx_engine.py --tasks --pin 0                          # every built-in task, small models
    python benchmarks/onnx_engine.py --checkpoint RUN --decode-only FILE --hyps-dir DIR   # peers/run.py's row
        [--quantize int8] [--engine ctranslate2]

Equality: greedy outputs compared string for string, beam-5 top hypotheses (strings, and the largest score
difference), attention matrices of the greedy outputs (largest difference). Throughput: sentences/s of greedy
and beam-5 decoding of the test sentences, `--batch` a batch, at most `--max-length` tokens, the engines
alternating `--rounds` times (medians), the tokenised sources prepared beforehand, no attention kept. Latency:
one sentence at a time, greedy, p50 and p99 over `--latency` sentences. One thread for both engines.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from machine import print_machine  # benchmarks/machine.py: the machine line every benchmark prints

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

TASKS = {  # small models, trained in seconds: enough to decode like a trained model
    "addition": ["--preset", "reverse-peeky"], "date": ["--preset", "attention"],
    "reverse": ["--preset", "attention"], "copy": ["--preset", "luong"], "sort": ["--preset", "bahdanau"],
    "keras-example": ["--set", "model.attention=general"], "sine": [],
}


def _engines(run: Path, work: Path):
    import seq2seq
    from seq2seq.export import export_onnx

    start = time.perf_counter()
    exported = export_onnx(run, work / "exported")
    seconds = time.perf_counter() - start
    return seq2seq.load(run), seq2seq.load(exported, threads=1), seconds


def _decoders(torch_model, onnx_model, options):
    """Engine-level generation of encoded sources (no attention), one function per engine."""
    import torch

    from seq2seq.decoding import generate as torch_generate

    def on_torch(sources):
        with torch.inference_mode():
            return torch_generate(torch_model.net, torch_model.source, sources, options)

    def on_onnx(sources):
        return onnx_model.generate(sources, options)

    return {"torch": on_torch, "onnx": on_onnx}


def equality(torch_model, onnx_model, raw: list) -> dict:
    """How far the ONNX engine's outputs are from PyTorch's on `raw` inputs (vector targets: greedy only, and
    the largest difference of the generated values)."""
    out = {"sentences": len(raw)}
    if torch_model.config.data.target_type == "features":
        a, b = torch_model.translate(raw), onnx_model.translate(raw)
        out["greedy_equal"] = sum(x[0].values.shape == y[0].values.shape for x, y in zip(a, b))
        out["values_max_diff"] = max(float(np.abs(x[0].values - y[0].values).max()) for x, y in zip(a, b))
        return out
    for name, options in (("greedy", {"beam": 1}), ("beam5", {"beam": 5})):
        a, b = torch_model.translate(raw, **options), onnx_model.translate(raw, **options)
        out[f"{name}_equal"] = sum(x[0].text == y[0].text for x, y in zip(a, b))
        out[f"{name}_max_score_diff"] = max(abs(x[0].score - y[0].score) for x, y in zip(a, b))
        if name == "greedy" and a[0][0].attention is not None:
            out["attention_max_diff"] = max(
                float(np.abs(np.array(x[0].attention) - np.array(y[0].attention)).max(initial=0.0))
                for x, y in zip(a, b) if x[0].text == y[0].text)
    return out


def throughput(torch_model, onnx_model, sources: list, args) -> dict:
    """Sentences/s per engine and strategy: medians of alternating rounds."""
    from seq2seq.config import DecodeConfig

    result = {}
    for name, strategy, beam in (("greedy", "greedy", 1), ("beam5", "beam", 5)):
        options = DecodeConfig(strategy=strategy, beam_size=beam, batch_size=args.batch, max_length=args.max_length)
        runs = {"torch": [], "onnx": []}
        for _ in range(args.rounds):
            for engine, fn in _decoders(torch_model, onnx_model, options).items():
                start = time.perf_counter()
                fn(sources)
                runs[engine].append(len(sources) / (time.perf_counter() - start))
        result[name] = {engine: statistics.median(v) for engine, v in runs.items()}
        result[name]["ratio"] = result[name]["onnx"] / result[name]["torch"]
    return result


def latency(torch_model, onnx_model, sources: list, args) -> dict:
    """One sentence at a time, greedy: p50 and p99 in milliseconds per engine (alternating sentence by sentence)."""
    from seq2seq.config import DecodeConfig

    options = DecodeConfig(strategy="greedy", batch_size=1, max_length=args.max_length)
    decoders = _decoders(torch_model, onnx_model, options)
    times = {"torch": [], "onnx": []}
    for source in sources[: args.latency]:
        for engine, fn in decoders.items():
            start = time.perf_counter()
            fn([source])
            times[engine].append(1000 * (time.perf_counter() - start))
    return {engine: {"p50_ms": float(np.percentile(t, 50)), "p99_ms": float(np.percentile(t, 99))}
            for engine, t in times.items()}


def measure_run(run: Path, args) -> dict:
    """Equality on the run's test split (first --sentences), then throughput and latency."""
    from seq2seq.data.corpus import load_splits

    with tempfile.TemporaryDirectory() as work:
        torch_model, onnx_model, export_s = _engines(run, Path(work))
        split = load_splits(torch_model.config)
        raw = [s for s, _ in (split.get("test") or split["valid"])][: args.sentences]
        result = {"run": str(run), "export_seconds": export_s, "equality": equality(torch_model, onnx_model, raw)}
        if torch_model.config.data.target_type == "tokens" and not args.tasks:
            sources = [torch_model.source.encode(s) for s in raw]
            result["throughput"] = throughput(torch_model, onnx_model, sources, args)
            result["latency"] = latency(torch_model, onnx_model, sources, args)
    return result


def train_task(task: str, out: Path) -> Path:
    from seq2seq.cli import main

    args = ["train", "--task", task, "--out", str(out), "--epochs", "2", "--quiet", "--set", "train.threads=1",
            "--set", "data.train_size=2000", "--set", "data.valid_size=100", "--set", "data.test_size=500",
            "--set", "model.embedding_size=32", "--set", "model.encoder_hidden=64", "--set", "model.decoder_hidden=64",
            "--set", "train.lr=0.005"] + TASKS[task]
    if main(args) != 0:
        raise RuntimeError(f"training {task} failed")
    return out


def decode_only(args) -> dict:
    """peers/run.py's exported rows: export (ONNX, or CTranslate2 with --engine ctranslate2; --quantize), then
    decode a tokenised file greedy and beam 5 on that engine."""
    import seq2seq
    from seq2seq.config import DecodeConfig

    work = Path(args.hyps_dir)
    work.mkdir(parents=True, exist_ok=True)
    if args.engine == "ctranslate2":
        from seq2seq.ct2.convert import export_ctranslate2

        exported = export_ctranslate2(args.checkpoint, work / "exported", quantization=args.quantize or "float32")
    else:
        from seq2seq.export import export_onnx

        exported = export_onnx(args.checkpoint, work / "exported", quantize=args.quantize)
    model = seq2seq.load(exported, threads=1)
    lines = Path(args.decode_only).read_text(encoding="utf-8").splitlines()
    sources = [model.source.encode(x) for x in lines]
    result = {"parameters": model.parameter_count}
    for name, strategy, beam in (("greedy", "greedy", 1), ("beam5", "beam", 5)):
        options = DecodeConfig(strategy=strategy, beam_size=beam, batch_size=args.batch, max_length=args.max_length)
        start = time.perf_counter()
        hyps = model.generate(sources, options)
        result[f"{name}_sent_s"] = len(sources) / (time.perf_counter() - start)
        (work / f"{name}.txt").write_text("".join(model.target.decode(h[0].output) + "\n" for h in hyps),
                                          encoding="utf-8")
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="run directory of a trained model")
    p.add_argument("--tasks", action="store_true", help="train a small model per built-in task; equality only")
    p.add_argument("--sentences", type=int, default=1000, help="test sentences compared and decoded")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--max-length", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--latency", type=int, default=200, help="sentences timed one at a time")
    p.add_argument("--pin", help="taskset CPU, e.g. 0")
    p.add_argument("--decode-only", help="tokenised source file (peers/run.py)")
    p.add_argument("--hyps-dir")
    p.add_argument("--engine", default="onnx", choices=["onnx", "ctranslate2"], help="--decode-only's engine")
    p.add_argument("--quantize", help="--decode-only: int8 (onnx); int8, int8_float32, int16 (ctranslate2)")
    p.add_argument("--out", default="runs/onnx_engine")
    args = p.parse_args()
    if args.pin is not None:
        os.sched_setaffinity(0, {int(c) for c in args.pin.split(",")})
    print_machine()
    import torch

    torch.set_num_threads(1)
    if args.decode_only:
        print(json.dumps(decode_only(args)))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    if args.checkpoint:
        results["checkpoint"] = measure_run(Path(args.checkpoint), args)
    if args.tasks:
        runs = out / "tasks"
        for task in TASKS:
            if runs.joinpath(task).exists():
                shutil.rmtree(runs / task)
            results[task] = measure_run(train_task(task, runs / task), args)
            print(task, json.dumps(results[task]["equality"]), flush=True)
    results["env"] = {"torch": torch.__version__, "onnxruntime": __import__("onnxruntime").__version__,
                      "affinity": sorted(os.sched_getaffinity(0)), "threads": 1}
    (out / "onnx_engine.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
