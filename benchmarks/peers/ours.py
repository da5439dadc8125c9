"""Our rows of the peers harness: PyTorch training and decoding through benchmarks/speed.py, the trained model
exported (ONNX float32 / int8, CTranslate2 float32 / int8) and decoded through benchmarks/onnx_engine.py, and
`seq2seq train` under torchrun."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from common import MAX_LEN, ROOT, scores, sh

# Our Transformer row: the `transformer` preset is this shape (its dropout set to the peers' 0.1); the schedule,
# label smoothing and token batches it also sets are training keys speed.py does not read (it trains with Adam
# at a constant rate, 64 sentences).
OURS = {"ours-128x2": ("luong", ["model.encoder_hidden=128", "model.decoder_hidden=256", "model.dropout=0.2"]),
        "ours-256x2": ("luong", ["model.encoder_hidden=256", "model.decoder_hidden=256", "model.dropout=0.2"]),
        "ours-transformer": ("transformer", ["model.dropout=0.1"]),
        # bf16 autocast in training (CPUs with bf16 instructions): separate rows, the targets are float32
        "ours-128x2-bf16": ("luong", ["model.encoder_hidden=128", "model.decoder_hidden=256", "model.dropout=0.2",
                                      "train.precision=bf16"]),
        "ours-transformer-bf16": ("transformer", ["model.dropout=0.1", "train.precision=bf16"])}
# An exported row decodes the model its base row trained, exported: (base row, engine, quantization).
EXPORTED = {"ours-onnx": ("ours-128x2", "onnx", None), "ours-transformer-onnx": ("ours-transformer", "onnx", None),
        "ours-onnx-int8": ("ours-128x2", "onnx", "int8"),
        "ours-transformer-onnx-int8": ("ours-transformer", "onnx", "int8"),
        "ours-transformer-ct2": ("ours-transformer", "ctranslate2", "float32"),
        "ours-transformer-ct2-int8": ("ours-transformer", "ctranslate2", "int8")}


def run_ours(data: Path, work: Path, args, system: str) -> dict:
    """Train `system` for args.steps steps (the first report interval untimed) and decode the test set."""
    preset, sets = OURS[system]
    work.mkdir(parents=True, exist_ok=True)
    trained = json.loads((work / "speed.json").read_text()) if args.decode_only else None
    cmd = [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--worker", str(work / "speed.json"),
           "--train", str(data / "train"), "--valid", str(data / "val"), "--test", str(data / "test"),
           "--no-multi30k", "--preset", preset, "--steps", str(args.steps - args.report_every),
           "--warmup", str(args.report_every), "--threads", str(args.threads), "--seed", "1",
           "--max-length", str(MAX_LEN),           "--hyps-dir", str(work), "--log-every", str(args.report_every)]
    # --decode-only: the run saved before decodes again (one step of a throw-away model is all that trains).
    cmd += ["--checkpoint", str(work / "run"), "--steps", "1", "--warmup", "0"] if trained else \
        ["--save-run", str(work / "run")]
    for s in ("data.format=pair", "data.source_suffix=.en", "data.target_suffix=.de", "data.tokenizer=word",
              "data.word_split=whitespace", "data.min_freq=2", "model.embedding_size=256", *sets):
        cmd += ["--set", s]
    sh(cmd, work / "log.txt", args.threads, pin=args.pin)
    r = json.loads((work / "speed.json").read_text())
    if trained:
        r["train"], r["flops"] = trained["train"], trained["flops"]
        (work / "speed.json").write_text(json.dumps({**r, "decoded_again": True}, indent=2))
    return {"params": r["parameters"], "train_tgt_tok_s": r["train"]["target_tokens_per_second"],
            "greedy_sent_s": r["decode"]["greedy"]["sentences_per_second"],
            "beam5_sent_s": r["decode"]["beam5"]["sentences_per_second"],
            **scores(work / "greedy.txt", work / "beam5.txt", data / "test.de"), **flops(r)}


def flops(r: dict) -> dict:
    """speed.py's count of training FLOPs (per target token, achieved rate) and the core's matmul peak."""
    f, rate = r["flops"], r["train"]["target_tokens_per_second"]
    return {"flop_per_tgt_token": f["achieved_gflops"] * 1e9 / rate, "train_gflops": f["achieved_gflops"],
            "train_gflop_per_step": f["train_gflop_per_step"],
            "matmul_peak_gflops": max(f["matmul_gflops"].values()), "fraction_of_peak": f["fraction_of_peak"]}


def run_ours_onnx(data: Path, work: Path, args, base: str, trained: dict, engine: str = "onnx",
                  quantize: str | None = None) -> dict:
    """The model `base`'s run saved, exported and decoded on the ONNX (or CTranslate2) engine."""
    run = work.parent / base / "run"
    if not (run / "checkpoints" / "best").exists():
        raise RuntimeError(f"run {base} first (its trained model is what {work.name} decodes)")
    work.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(ROOT / "benchmarks" / "onnx_engine.py"), "--checkpoint", str(run), "--decode-only",
           str(data / "test.en"), "--hyps-dir", str(work), "--max-length", str(MAX_LEN), "--batch", "64",
           "--engine", engine] + (["--quantize", quantize] if quantize else [])
    sh(cmd, work / "log.txt", args.threads, pin=args.pin)
    r = json.loads((work / "log.txt").read_text().strip().splitlines()[-1])
    return {"params": r["parameters"], "train_tgt_tok_s": trained.get("train_tgt_tok_s", float("nan")),
            "greedy_sent_s": r["greedy_sent_s"], "beam5_sent_s": r["beam5_sent_s"],
            **scores(work / "greedy.txt", work / "beam5.txt", data / "test.de")}


def run_ours_torchrun(data: Path, work: Path, args) -> dict:
    """`ours-128x2` trained by `seq2seq train` under torchrun, 2 processes of one thread each on the pinned
    cores (the global batch of 64 split 32 + 32), against the same command in one process: training only."""
    sub = work / "data"
    sub.mkdir(parents=True, exist_ok=True)
    pairs = 64 * args.steps  # one epoch of `--steps` batches
    tgt_tokens = 0
    for name, count in (("train", pairs), ("val", 64)):
        for lang in ("en", "de"):
            lines = (data / f"{name}.{lang}").read_text(encoding="utf-8").splitlines(True)[:count]
            (sub / f"{name}.{lang}").write_text("".join(lines), encoding="utf-8")
            if name == "train" and lang == "de":
                tgt_tokens = sum(len(x.split()) + 1 for x in lines)  # + </s>, as every system counts
    _, sets = OURS["ours-128x2"]
    train = ["-m", "seq2seq", "train", "--train", str(sub / "train"), "--valid", str(sub / "val"), "--preset",
             "luong", "--epochs", "1", "--batch-size", "64", "--seed", "1", "--quiet"]
    for s in ("data.format=pair", "data.source_suffix=.en", "data.target_suffix=.de", "data.tokenizer=word",
              "data.word_split=whitespace", "data.min_freq=2", "model.embedding_size=256", "train.lr=0.001",
              "train.clip_norm=5", "train.threads=1", *sets):
        train += ["--set", s]
    result = {}
    for procs in (1, 2):
        out = work / f"run{procs}"
        shutil.rmtree(out, ignore_errors=True)
        launcher = [sys.executable] if procs == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                        "--nproc_per_node", str(procs)]
        sh(launcher + train + ["--out", str(out)], work / f"log{procs}.txt", 1, pin=args.pin)
        seconds = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["seconds"]
        result[f"procs{procs}_tgt_tok_s"] = tgt_tokens / seconds
    return {"params": float("nan"), "train_tgt_tok_s": result["procs2_tgt_tok_s"], **result}
