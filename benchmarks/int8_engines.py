"""One trained model on every engine it exports to: PyTorch, ONNX float32 and int8, and for a Transformer
CTranslate2 float32 and int8 - decoding speed, BLEU, and agreement with the float32 engine of each kind.

    python benchmarks/int8_engines.py --checkpoint RUN --source test.en --reference test.de --pin 0
    python benchmarks/int8_engines.py --checkpoint RUN ... --engines torch,onnx,onnx-int8,ct2,ct2-int8
    python benchmarks/int8_engines.py --checkpoint RUN --pin 0     # a built-in task's run: its test split

The engines decode the same tokenised source file (encoded beforehand), greedy and beam 5, `--batch`
sentences a batch, at most `--max-length` tokens, one thread each, alternating engine by engine for
`--rounds` rounds (medians of sentences/s), so that a busy machine slows them alike. BLEU: sacrebleu on the
tokenised text (`tokenize=none`), as benchmarks/peers/run.py scores; and exact match. Agreement: the share
of outputs equal to those of the float32 engine of the same kind (onnx-int8 against onnx, ct2 against
torch, ct2-int8 against ct2; a `-shortlist` engine, CTranslate2 decoding over the vocabulary map of
`--shortlist`, against the same without).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from machine import machine_line  # benchmarks/machine.py: the machine line every benchmark prints

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

REFERENCE_ENGINE = {"onnx-int8": "onnx", "ct2": "torch", "ct2-int8": "ct2", "onnx": "torch",
                    "ct2-shortlist": "ct2", "ct2-int8-shortlist": "ct2-int8"}


def load_engines(run: Path, names: list[str], work: Path, shortlist: int = 20) -> dict:
    """Each engine's model of the run (exported into `work` where needed)."""
    import seq2seq

    models = {}
    for name in names:
        if name == "torch":
            models[name] = seq2seq.load(run)
        elif name in ("onnx", "onnx-int8"):
            from seq2seq.export import export_onnx

            out = export_onnx(run, work / name, quantize="int8" if name.endswith("int8") else None)
            models[name] = seq2seq.load(out, threads=1)
        elif name in ("ct2", "ct2-int8", "ct2-shortlist", "ct2-int8-shortlist"):
            from seq2seq.ct2.convert import export_ctranslate2

            out = export_ctranslate2(run, work / name, quantization="int8" if "int8" in name else "float32",
                                     shortlist=shortlist if name.endswith("shortlist") else 0)
            models[name] = seq2seq.load(out, threads=1)
        else:
            raise SystemExit(f"unknown engine {name!r}: torch, onnx, onnx-int8, ct2, ct2-int8, ct2-shortlist, "
                             f"ct2-int8-shortlist")
    return models


def decode(model, sources: list, options) -> list:
    """Hypotheses of every source on the model's engine (torch without autograd)."""
    if model.engine == "torch":
        import torch

        with torch.inference_mode():
            return model.generate(sources, options)
    return model.generate(sources, options)


def bleu(hyps: list[str], refs: list[str]) -> float:
    import sacrebleu

    return sacrebleu.corpus_bleu(hyps, [refs], tokenize="none").score


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="run directory of a trained model")
    p.add_argument("--source", help="tokenised source file, one sentence a line (default: the run's test split)")
    p.add_argument("--reference", help="tokenised references, one a line (with --source)")
    p.add_argument("--engines", default="torch,onnx,onnx-int8")
    p.add_argument("--shortlist", type=int, default=20, help="candidates per source word of the -shortlist engines")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--max-length", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--pin", help="taskset CPU list, e.g. 0")
    p.add_argument("--out", default="runs/int8_engines")
    args = p.parse_args()
    if args.pin:
        os.sched_setaffinity(0, {int(c) for c in args.pin.split(",")})
    import torch

    from seq2seq.config import DecodeConfig

    torch.set_num_threads(1)
    names = args.engines.split(",")
    result: dict = {"machine": machine_line(), "cpus": sorted(os.sched_getaffinity(0)), "rounds": args.rounds,
                    "engines": {}}
    with tempfile.TemporaryDirectory() as work:
        models = load_engines(Path(args.checkpoint), names, Path(work), args.shortlist)
        if args.source:
            lines = Path(args.source).read_text(encoding="utf-8").splitlines()
            refs = Path(args.reference).read_text(encoding="utf-8").splitlines()
        else:  # the run's own test split, references as the target side writes them
            from seq2seq.data.corpus import load_splits

            model = models[names[0]]
            pairs = load_splits(model.config)["test"]
            lines = [s for s, _ in pairs]
            refs = [model.target.decode(model.target.encode(t)) for _, t in pairs]
        result["sentences"] = len(lines)
        sources = [models[names[0]].source.encode(x) for x in lines]
        for strategy, beam in (("greedy", 1), ("beam5", 5)):
            options = DecodeConfig(strategy="greedy" if beam == 1 else "beam", beam_size=beam,
                                   batch_size=args.batch, max_length=args.max_length)
            speeds: dict[str, list[float]] = {n: [] for n in names}
            texts: dict[str, list[str]] = {}
            for _ in range(args.rounds):
                for name in names:  # alternating: every engine once per round
                    start = time.perf_counter()
                    hyps = decode(models[name], sources, options)
                    speeds[name].append(len(sources) / (time.perf_counter() - start))
                    texts[name] = [models[name].target.decode(h[0].output) for h in hyps]
            for name in names:
                row = result["engines"].setdefault(name, {})
                row[f"{strategy}_sent_s"] = statistics.median(speeds[name])
                row[f"{strategy}_rounds"] = speeds[name]
                row[f"bleu_{strategy}"] = bleu(texts[name], refs)
                row[f"exact_{strategy}"] = sum(a == b for a, b in zip(texts[name], refs)) / len(lines)
                base = REFERENCE_ENGINE.get(name)
                if base in texts:
                    same = sum(a == b for a, b in zip(texts[name], texts[base]))
                    row[f"{strategy}_same_as_{base}"] = same / len(lines)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = [result["machine"], f"CPUs {result['cpus']}; {len(lines)} sentences, batch {args.batch}, one thread, "
             f"{args.rounds} alternating rounds (medians)", "",
             "| engine | greedy sent/s | beam-5 sent/s | BLEU greedy | BLEU beam-5 | exact greedy | exact beam-5 | "
             "same as (greedy / beam-5) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for name, r in result["engines"].items():
        base = REFERENCE_ENGINE.get(name)
        same = (f"{base}: {100 * r[f'greedy_same_as_{base}']:.1f}% / {100 * r[f'beam5_same_as_{base}']:.1f}%"
                if f"greedy_same_as_{base}" in r else "")
        table.append(f"| {name} | {r['greedy_sent_s']:,.1f} | {r['beam5_sent_s']:,.1f} | {r['bleu_greedy']:.2f} | "
                     f"{r['bleu_beam5']:.2f} | {100 * r['exact_greedy']:.1f}% | {100 * r['exact_beam5']:.1f}% | "
                     f"{same} |")
    md = "\n".join(table) + "\n"
    (out / "int8_engines.json").write_text(json.dumps(result, indent=2))
    (out / "int8_engines.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
