"""The `seq2seq` command."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .checkpoint import CheckpointError
from .config import PRESETS, ConfigError, build_config, commented_yaml
from .audio import AudioError
from .data.datasets import DataError

log = logging.getLogger("seq2seq")


def _train(args: argparse.Namespace) -> int:
    from .training import train

    overrides = list(args.set or [])
    for flag, key in (("task", "data.task"), ("train", "data.train"), ("valid", "data.valid"),
                      ("test", "data.test"), ("epochs", "train.epochs"), ("batch_size", "train.batch_size"),
                      ("seed", "train.seed")):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.skip_invalid:
        overrides.append("data.skip_invalid=true")
    cfg = build_config(args.preset, args.config, overrides)
    if not args.resume and cfg.data.task is None and (cfg.data.train is None or cfg.data.valid is None):
        raise ConfigError("no data: give --task NAME, or --train FILE and --valid FILE")
    train(cfg, args.out, resume=args.resume, quiet=args.quiet)
    if os.environ.get("RANK", "0") == "0":
        print(f"run directory: {args.out}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from .api import load
    from .data.datasets import read_pairs
    from .evaluation import evaluate

    model = load(args.dir)
    cfg = model.config
    if "features" in (cfg.data.source_type, cfg.data.target_type):
        from .feature_eval import eval_feature_file

        print(json.dumps(eval_feature_file(model, args.data, args.predictions or Path(args.dir) / "predictions.tsv",
                                           beam=args.beam, batch_size=args.batch_size, skip_invalid=args.skip_invalid)))
        return 0
    pairs = read_pairs(args.data, fmt=cfg.data.format if args.format is None else args.format,
                       skip_invalid=args.skip_invalid).pairs
    ids = [(model.source.encode(s), model.target.encode(t)) for s, t in pairs]
    decode = {"strategy": "beam" if args.beam > 1 else "greedy", "beam_size": args.beam,
              "max_length": cfg.decode.max_length, "max_length_a": cfg.decode.max_length_a,
              "max_length_b": cfg.decode.max_length_b}
    metrics, hyps = evaluate(model.net, ids, model.target, batch_size=args.batch_size, device=model.device,
                             text_metrics=cfg.target_tokenizer in ("word", "sentencepiece"), decode=decode,
                             prefix="")
    out = Path(args.predictions or Path(args.dir) / "predictions.tsv")
    with open(out, "w", encoding="utf-8") as f:
        f.write("source\treference\thypothesis\n")
        for (s, t), h in zip(pairs, hyps):
            f.write(f"{s}\t{t}\t{h}\n")
    print(json.dumps({**metrics, "sentences": len(pairs), "predictions": str(out)}))
    return 0


def _translate(args: argparse.Namespace) -> int:
    from .api import load

    model = load(args.dir)
    source = open(args.input, encoding="utf-8") if args.input else sys.stdin
    lines = [ln.rstrip("\n").rstrip("\r") for ln in source]
    if model.source.kind == "features" or model.target.kind == "features":
        from .feature_eval import translate_feature_lines

        sink = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
        sink.writelines(out + "\n" for out in translate_feature_lines(model, lines, beam=args.beam,
                                                                        batch_size=args.batch_size))
        sink.flush()
        return 0
    results = model.translate(lines, beam=args.beam, nbest=args.nbest, sample=args.sample,
                              temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                              batch_size=args.batch_size, strict=args.strict)
    sink = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    for i, hyps in enumerate(results):
        if args.nbest > 1:
            for h in hyps:
                sink.write(f"{i}\t{h.score:.4f}\t{h.text}\n")
        else:
            sink.write(hyps[0].text + "\n")
    sink.flush()
    if args.attention and results:
        from .plots import attention_heatmap

        first = next((r[0] for r in results if r[0].attention), None)
        if first is None:
            log.warning("no attention to draw: the model has no attention or the inputs are empty")
        else:
            attention_heatmap(first.attention, first.source_tokens, first.tokens + ["</s>"], args.attention)
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        from .serve import ServeOptions, serve
    except ImportError as e:
        raise ConfigError(f"serving needs fastapi and uvicorn ({e}); pip install 'seq2seq[serve]'") from None
    try:
        options = ServeOptions(max_inputs=args.max_inputs, max_input_chars=args.max_input_chars,
                               max_body_bytes=args.max_body_bytes, max_beam=args.max_beam, max_nbest=args.max_nbest,
                               max_output_length=args.max_output_length, batch_wait_ms=args.batch_wait_ms,
                               max_batch=args.max_batch, threads=args.threads)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    serve(args.dir, host=args.host, port=args.port, options=options, which=args.checkpoint, log_level=args.log_level)
    return 0


def _plot(args: argparse.Namespace) -> int:
    from .plots import learning_curves

    print(learning_curves(args.dirs, args.output))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.out, quick=args.quick, jobs=args.jobs)
    return 0


def _config(args: argparse.Namespace) -> int:
    print(commented_yaml(build_config(args.preset, args.config, args.set or [])), end="")
    return 0


def _tasks(_: argparse.Namespace) -> int:
    from .data.tasks import TASKS

    for name, spec in TASKS.items():
        print(f"{name:14s} {spec.description}")
    return 0


def _presets(_: argparse.Namespace) -> int:
    for name, (text, values) in PRESETS.items():
        print(f"{name:14s} {text}")
        print(" " * 15 + " ".join(f"{k}={v}" for k, v in values.items()))
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from .data.datasets import format_inspection, inspect_file

    print(format_inspection(inspect_file(args.file, fmt=args.format, tokenizer=args.tokenizer)))
    return 0


def _wav2fbank(args: argparse.Namespace) -> int:
    import numpy as np

    from .audio import wav_to_fbank
    from .data.features import write_npz

    feats = [wav_to_fbank(p, n_mels=args.mels, frame_ms=args.frame_ms, shift_ms=args.shift_ms) for p in args.wavs]
    out = Path(args.out)
    targets = None
    if args.targets:
        targets = Path(args.targets).read_text(encoding="utf-8").splitlines()
        if len(targets) != len(args.wavs):
            raise ConfigError(f"{args.targets}: {len(targets)} lines for {len(args.wavs)} WAV files")
    if out.suffix == ".npz":
        out.parent.mkdir(parents=True, exist_ok=True)
        write_npz(out, feats, targets, names=np.array([str(p) for p in args.wavs]))
    else:
        if targets is not None:
            raise ConfigError("--targets needs --out FILE.npz")
        out.mkdir(parents=True, exist_ok=True)
        for path, f in zip(args.wavs, feats):
            np.save(out / (Path(path).stem + ".npy"), f, allow_pickle=False)
    frames = sum(len(f) for f in feats)
    print(f"{len(feats)} file(s), {frames} frames of {args.mels} log-mel filterbanks -> {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    p = argparse.ArgumentParser(prog="seq2seq", description="Train, compare and serve RNN encoder-decoder "
                                "models (context vector, reverse, peeky, attention).")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a model into a run directory")
    t.add_argument("--task", help="built-in task (see `seq2seq tasks`)")
    t.add_argument("--train", help="training file (TSV, JSONL, textbook `q_a` lines)")
    t.add_argument("--valid", help="validation file")
    t.add_argument("--test", help="test file (metrics go to DIR/test_metrics.json)")
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
    t.set_defaults(func=_train)

    e = sub.add_parser("eval", help="metrics of a trained model on a data file, as JSON")
    e.add_argument("dir")
    e.add_argument("--data", required=True)
    e.add_argument("--format", choices=["auto", "tsv", "jsonl", "book", "pair"])
    e.add_argument("--beam", type=int, default=1)
    e.add_argument("--batch-size", type=int, default=64)
    e.add_argument("--predictions", help="TSV of source, reference, hypothesis (default DIR/predictions.tsv)")
    e.add_argument("--skip-invalid", action="store_true")
    e.set_defaults(func=_eval)

    r = sub.add_parser("translate", help="translate lines from stdin (or --input) to stdout")
    r.add_argument("dir")
    r.add_argument("--input")
    r.add_argument("--output")
    r.add_argument("--beam", type=int, default=1)
    r.add_argument("--nbest", type=int, default=1, help="N lines per input: index<TAB>score<TAB>text")
    r.add_argument("--sample", action="store_true", help="sample instead of searching")
    r.add_argument("--temperature", type=float, default=1.0)
    r.add_argument("--top-k", type=int, default=0)
    r.add_argument("--top-p", type=float, default=1.0)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--batch-size", type=int, default=64)
    r.add_argument("--attention", metavar="PNG", help="attention heatmap of the first input")
    r.add_argument("--strict", action="store_true", help="refuse inputs longer than the model's limit")
    r.set_defaults(func=_translate)

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
    sv.add_argument("--threads", type=int, default=1, help="torch threads of the one inference thread")
    sv.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                    help="uvicorn's log level (debug also logs every request)")
    sv.set_defaults(func=_serve)

    pl = sub.add_parser("plot", help="learning curves of one or more runs to PNG")
    pl.add_argument("dirs", nargs="+")
    pl.add_argument("--output", default="learning_curves.png")
    pl.set_defaults(func=_plot)

    dm = sub.add_parser("demo", help="the seeds' experiments end to end (addition, dates), with a report")
    dm.add_argument("--out", default="runs/demo")
    dm.add_argument("--quick", action="store_true", help="small data and 2 epochs (a smoke test)")
    dm.add_argument("--jobs", type=int, default=2, help="runs trained in parallel, one thread each")
    dm.set_defaults(func=_demo)

    c = sub.add_parser("config", help="print the resolved config as commented YAML")
    c.add_argument("--config", help="YAML config file")
    c.add_argument("--preset", choices=list(PRESETS))
    c.add_argument("--set", action="append", metavar="KEY=VALUE")
    c.set_defaults(func=_config)

    sub.add_parser("tasks", help="list the built-in tasks").set_defaults(func=_tasks)
    sub.add_parser("presets", help="list the named architectures").set_defaults(func=_presets)

    d = sub.add_parser("data", help="data tools")
    dsub = d.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    i = dsub.add_parser("inspect", help="counts, length histogram, vocabulary size, invalid lines")
    i.add_argument("file")
    i.add_argument("--format", default="auto", choices=["auto", "tsv", "jsonl", "book", "pair"])
    i.add_argument("--tokenizer", default="char", choices=["char", "word", "jamo"])
    i.set_defaults(func=_inspect)

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
    w.set_defaults(func=_wav2fbank)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; user errors become one line on stderr and exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, DataError, CheckpointError, FileNotFoundError, AudioError) as e:
        print(f"seq2seq: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
