"""The `seq2seq` command line: every subcommand's arguments."""

from __future__ import annotations

import argparse
import platform
import sys
from importlib.metadata import version
from typing import Any

from ..config import PRESETS
from .commands import (
    average_command,
    check_command,
    config_command,
    demo_command,
    eval_command,
    export_command,
    inspect_command,
    plot_command,
    preprocess_command,
    presets_command,
    score_command,
    serve_command,
    tasks_command,
    train_command,
    translate_command,
    wav2fbank_command,
)
from .decode_flags import add_decode_flags


def _train(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train a model into a run directory")
    t.add_argument("--task", help="built-in task (see `seq2seq tasks`)")
    t.add_argument("--train", help="training file (TSV, JSONL, the `q_a` lines of Saito's book)")
    t.add_argument("--valid", help="validation file")
    t.add_argument("--test", help="test file (metrics go to DIR/test_metrics.json)")
    t.add_argument("--data", metavar="DIR", help="a directory written by `seq2seq preprocess` (memory-mapped "
                   "shards; its data settings are the run's)")
    t.add_argument("--config", help="YAML config file")
    t.add_argument("--preset", choices=list(PRESETS), help="named architecture (see `seq2seq presets`)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config key; repeatable")
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int, help="sentences per batch (tokens with train.batch_by=tokens); "
                   "global: under torchrun each of N processes takes 1/N of every batch")
    t.add_argument("--seed", type=int)
    t.add_argument("--out", required=True, help="run directory")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from checkpoints/last")
    t.add_argument("--skip-invalid", action="store_true", help="skip malformed data lines, reporting the count")
    t.add_argument("--quiet", action="store_true", help="no progress output")
    t.set_defaults(func=train_command)


def _preprocess(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preprocess", help="encode corpora once into a data directory that `train --data` reads "
                       "memory-mapped")
    p.add_argument("--train", action="append", metavar="[NAME=]FILE", help="training corpus; repeat for several "
                   "(named by their file name, or NAME=FILE; weights at training: data.corpus_weights)")
    p.add_argument("--valid", help="validation file")
    p.add_argument("--test", help="test file")
    p.add_argument("--config", help="YAML config file (its data section: tokenizers, vocabularies, length limits)")
    p.add_argument("--preset", choices=list(PRESETS), help="named architecture (its data settings apply)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config key; repeatable")
    p.add_argument("--out", required=True, help="the data directory to write (must not exist yet)")
    p.add_argument("--workers", type=int, default=1, help="processes encoding chunks of lines in parallel")
    p.add_argument("--skip-invalid", action="store_true", help="skip malformed data lines, reporting the count")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=preprocess_command)


def _use(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("eval", help="metrics of a trained model on a data file, as JSON")
    e.add_argument("dirs", nargs="+", metavar="RUN", help="a run directory; several: their ensemble")
    e.add_argument("--data", required=True)
    e.add_argument("--format", choices=["auto", "tsv", "jsonl", "book", "pair"])
    e.add_argument("--predictions", help="TSV of source, reference, hypothesis (default RUN/predictions.tsv; "
                   "an ensemble: the first RUN's predictions.ensemble.tsv)")
    e.add_argument("--skip-invalid", action="store_true")
    add_decode_flags(e)
    e.set_defaults(func=eval_command)

    r = sub.add_parser("translate", help="translate lines from stdin (or --input) to stdout")
    r.add_argument("dirs", nargs="+", metavar="RUN", help="a run directory; several: an ensemble averaging their "
                   "step probabilities (runs sharing source and target vocabularies)")
    r.add_argument("--input")
    r.add_argument("--output")
    r.add_argument("--attention", metavar="PNG", help="attention heatmap of the first input (with each head's "
                   "beside the mean for multi-head attention)")
    _engine_flag(r)
    r.add_argument("--tokenized", action="store_true",
                   help="word-level outputs as spaced tokens (`a man ' s hat .`) instead of text (`A man's hat.`)")
    add_decode_flags(r)
    r.set_defaults(func=translate_command)

    sc = sub.add_parser("score", help="the log-probability a model gives each pair's target (teacher-forced)")
    sc.add_argument("dirs", nargs="+", metavar="RUN", help="a run directory; several: their ensemble")
    sc.add_argument("--data", required=True, help="pairs to score (the formats `train` reads)")
    sc.add_argument("--format", choices=["auto", "tsv", "jsonl", "book", "pair"])
    sc.add_argument("--tokens", action="store_true", help="one JSON object per pair with each token's score")
    sc.add_argument("--batch-size", type=int, default=64, help="pairs scored at once")
    sc.add_argument("--skip-invalid", action="store_true")
    sc.set_defaults(func=score_command)

    sv = sub.add_parser("serve", help="an HTTP API (/v1/translate, /docs) and a page to try the model on")
    sv.add_argument("dir")
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--checkpoint", default="best", choices=["best", "last"])
    sv.add_argument("--max-inputs", type=int, default=64, help="inputs per request (413 above)")
    sv.add_argument("--max-input-chars", type=int, default=1000, help="characters per input (413 above)")
    sv.add_argument("--max-body-bytes", type=int, default=1_000_000, help="request body size (413 above)")
    sv.add_argument("--max-beam", type=int, default=16, help="largest beam a request may ask for (422 above)")
    sv.add_argument("--max-nbest", type=int, help="largest nbest (default: --max-beam; 422 above)")
    sv.add_argument("--max-output-length", type=int, default=1000, help="largest max_length (422 above)")
    sv.add_argument("--batch-wait-ms", type=float, default=5.0,
                    help="how long to gather concurrent requests into one batch")
    sv.add_argument("--max-batch", type=int, default=64, help="inputs per batch (1 = no batching)")
    sv.add_argument("--threads", type=int, default=1, help="intra-op threads of the one inference thread")
    sv.add_argument("--max-queue", type=int, help="inputs that may wait, and (plus --max-batch) requests in flight; "
                                                  "503 with Retry-After above (default: --max-queue-ms of work)")
    sv.add_argument("--max-queue-ms", type=float, default=250.0,
                    help="the automatic --max-queue: this many ms of work at the measured rate (default 250)")
    sv.add_argument("--max-connections", type=int, default=1000,
                    help="open connections (plus requests being handled) past which uvicorn answers 503")
    sv.add_argument("--request-timeout", type=float, default=30.0,
                    help="seconds a request may take (504 after; a request's timeout_ms may ask for less)")
    sv.add_argument("--drain-seconds", type=float, default=10.0,
                    help="on SIGTERM: how long queued work may still finish (the rest gets 503)")
    sv.add_argument("--api-key",
                    help="require `Authorization: Bearer KEY` on every route but /health (default: "
                         "$SEQ2SEQ_API_KEY; the variable keeps the key out of the process list)")
    sv.add_argument("--insecure-no-auth", action="store_true",
                    help="allow a non-loopback --host without an API key")
    sv.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                    help="let pages from ORIGIN call the API (repeatable; default: no CORS)")
    sv.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                    help="uvicorn's log level (debug also logs every request)")
    _engine_flag(sv)
    add_decode_flags(sv)
    sv.set_defaults(func=serve_command)

    ex = sub.add_parser("export", help="a run's model for the onnx or ctranslate2 engine (no torch needed to run)")
    ex.add_argument("dir", help="run directory")
    ex.add_argument("--format", default="onnx", choices=["onnx", "ctranslate2"],
                    help="onnx: any model; ctranslate2: Transformer encoder and decoder (docs/guides/export.md)")
    ex.add_argument("--out", required=True, help="directory to write (replaced whole if it exists)")
    ex.add_argument("--checkpoint", default="best", choices=["best", "last"])
    ex.add_argument("--quantize", "--quantization", dest="quantize", metavar="TYPE",
                    help="weights' type: onnx: int8 (dynamic quantization of MatMul and LSTM weights); "
                         "ctranslate2: float32 (default), int8, int8_float32, int16")
    ex.add_argument("--shortlist", type=int, default=0, metavar="K",
                    help="ctranslate2: decode over a vocabulary shortlist, the K target words seen most often with "
                         "each source word in the training pairs (and the 100 most frequent)")
    ex.set_defaults(func=export_command)


def _engine_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", default="auto", choices=["auto", "torch", "onnx", "ctranslate2"],
                   help="torch (a run directory), onnx or ctranslate2 (an exported directory, or a run exported on "
                        "the fly); auto: an exported directory's engine, else torch")


def _tools(sub: argparse._SubParsersAction) -> None:
    pl = sub.add_parser("plot", help="learning curves of one or more runs to PNG")
    pl.add_argument("dirs", nargs="+")
    pl.add_argument("--output", default="learning_curves.png")
    pl.set_defaults(func=plot_command)

    dm = sub.add_parser("demo", help="the experiments of Saito's Deep Learning from Scratch 2, ch. 7-8 (addition, "
                        "dates), end to end with a report")
    dm.add_argument("--out", default="runs/demo")
    dm.add_argument("--quick", action="store_true", help="small data and 2 epochs (a smoke test)")
    dm.add_argument("--jobs", type=int, default=2, help="runs trained in parallel, one thread each")
    dm.set_defaults(func=demo_command)

    av = sub.add_parser("average", help="average a run's step checkpoints into a new run directory")
    av.add_argument("dir")
    which = av.add_mutually_exclusive_group(required=True)
    which.add_argument("--last", type=int, metavar="N", help="the N latest step checkpoints (keep them with "
                       "train.keep_checkpoints=N)")
    which.add_argument("--steps", metavar="S1,S2,...", help="the checkpoints of these steps")
    av.add_argument("--out", required=True, help="the new run directory (loads like any run)")
    av.set_defaults(func=average_command)

    ck = sub.add_parser("check", help="verify every checkpoint of a run against its SHA-256 sums (exit 5: damaged)")
    ck.add_argument("dir", help="run directory (may be training meanwhile: check takes no lock)")
    ck.set_defaults(func=check_command)

    cf = sub.add_parser("config", help="print the resolved config as commented YAML")
    cf.add_argument("--config", help="YAML config file")
    cf.add_argument("--preset", choices=list(PRESETS))
    cf.add_argument("--set", action="append", metavar="KEY=VALUE")
    cf.set_defaults(func=config_command)

    sub.add_parser("tasks", help="list the built-in tasks").set_defaults(func=tasks_command)
    sub.add_parser("presets", help="list the named architectures").set_defaults(func=presets_command)

    d = sub.add_parser("data", help="data tools")
    dsub = d.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    i = dsub.add_parser("inspect", help="counts, length histogram, vocabulary size, invalid lines")
    i.add_argument("file")
    i.add_argument("--format", default="auto", choices=["auto", "tsv", "jsonl", "book", "pair"])
    i.add_argument("--tokenizer", default="char", choices=["char", "word", "jamo"])
    i.add_argument("--source-suffix", default="", help="with --format pair: the source file is FILE + this, e.g. .de")
    i.add_argument("--target-suffix", default="", help="with --format pair: the target file is FILE + this, e.g. .en")
    i.set_defaults(func=inspect_command)

    f = sub.add_parser("features", help="feature tools (speech filterbanks)")
    fsub = f.add_subparsers(dest="features_command", required=True, metavar="ACTION")
    w = fsub.add_parser("wav2fbank", help="log-mel filterbanks of 16-bit PCM WAV files")
    w.add_argument("wavs", nargs="+", metavar="IN.wav")
    w.add_argument("--out", required=True, help="FILE.npz (arrays source, source_lengths, names[, target]) or a "
                   "directory (one NAME.npy of (frames, mels) per file)")
    w.add_argument("--targets", help="text file, one transcript per WAV (in order): stored as `target` in the .npz")
    w.add_argument("--mels", type=int, default=80, help="filterbank channels (default 80)")
    w.add_argument("--frame-ms", type=float, default=25.0, help="window length (default 25 ms)")
    w.add_argument("--shift-ms", type=float, default=10.0, help="frame shift (default 10 ms)")
    w.set_defaults(func=wav2fbank_command)


class _Version(argparse.Action):
    """`--version`: this package's, torch's and Python's versions (torch imported only when asked)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        import torch

        print(f"seq2seq {version('seq2seq')} (torch {torch.__version__}, Python {platform.python_version()})")
        sys.exit(0)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    p = argparse.ArgumentParser(prog="seq2seq", description="Train, compare and serve RNN encoder-decoder "
                                "models (context vector, reverse, peeky, attention).")
    p.add_argument("--version", action=_Version, help="show the versions of seq2seq, torch and Python")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _train(sub)
    _preprocess(sub)
    _use(sub)
    _tools(sub)
    return p
