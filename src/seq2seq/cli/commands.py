"""What each `seq2seq` subcommand does (the parser is in `parser`)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import PRESETS, Config, ConfigError, DecodeConfig, commented_yaml
from ..configure import build_config
from ..config.overrides import with_seed
from .decode_flags import options_from
from .line_io import one_line, open_output, read_input

if TYPE_CHECKING:
    from ..translation import Translator

log = logging.getLogger("seq2seq")


def train_command(args: argparse.Namespace) -> int:
    """`seq2seq train`: build the config from the flags and train into --out (with --resume: the run's config
    with the flags' changes, which `training.resume` checks)."""
    from ..training import train
    from ..training.resume import run_config

    overrides = list(args.set or [])
    for flag, key in (("task", "data.task"), ("train", "data.train"), ("valid", "data.valid"),
                      ("test", "data.test"), ("epochs", "train.epochs"), ("batch_size", "train.batch_size"),
                      ("seed", "train.seed")):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.skip_invalid:
        overrides.append("data.skip_invalid=true")
    cfg = build_config(args.preset, args.config, overrides, base=run_config(args.out) if args.resume else None)
    if not args.resume and cfg.data.task is None and (cfg.data.train is None or cfg.data.valid is None):
        raise ConfigError("no data: give --task NAME, or --train FILE and --valid FILE")
    train(cfg, args.out, resume=args.resume, quiet=args.quiet)
    if os.environ.get("RANK", "0") == "0":
        print(f"run directory: {args.out}")
    return 0


def _read_data(args: argparse.Namespace, cfg: Config) -> tuple[Config, list]:
    """The run's config with --format applied, and the pairs of --data read as it says."""
    from ..data.corpus import read_split

    if args.format is not None:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, format=args.format))
    return cfg, read_split(args.data, cfg, skip_invalid=args.skip_invalid)


def eval_command(args: argparse.Namespace) -> int:
    """`seq2seq eval`: every metric of a data file as JSON, and the predictions as TSV."""
    from ..api import load_ensemble
    from ..data.copying import encode_pair
    from ..data.corpus import within_limits
    from ..evaluation import evaluate, metric_names

    model = load_ensemble(args.dirs)
    cfg, pairs = _read_data(args, model.config)
    options = _seeded(options_from(args, cfg.decode, cfg.data.target_type))
    encoded = [encode_pair(model.source, model.target, s, t) for s, t in pairs]
    kept = within_limits(encoded, options.max_source_length, options.max_output_length, args.data,
                         ("decode.max_source_length", "decode.max_output_length"))
    pairs, encoded = [pairs[i] for i in kept], [encoded[i] for i in kept]
    if not pairs:
        raise ConfigError(f"{args.data}: no pair within decode.max_source_length={options.max_source_length} and "
                          f"decode.max_output_length={options.max_output_length}")
    metrics, hyps = evaluate(model.net, encoded, model.source, model.target, options,
                             references=[t for _, t in pairs], names=metric_names(cfg),
                             batch_size=options.batch_size, device=model.device, prefix="")
    name = "predictions.tsv" if len(args.dirs) == 1 else "predictions.ensemble.tsv"
    out = Path(args.predictions or Path(args.dirs[0]) / name)
    with open(out, "w", encoding="utf-8") as f:
        f.write("source\treference\thypothesis\n")
        for (s, t), h in zip(pairs, hyps):
            f.write(f"{model.source.show(s)}\t{model.target.show(t)}\t{h}\n")
    print(json.dumps({**metrics, "sentences": len(pairs), "predictions": str(out)}))
    return 0


def _load_for_decoding(dirs: list[str], engine: str) -> Translator:
    """One run on the chosen engine, or several runs as an ensemble (PyTorch only)."""
    if len(dirs) == 1:
        from ..loading import load

        return load(dirs[0], engine=engine)
    if engine == "onnx":
        raise ConfigError(f"an ensemble of {len(dirs)} runs decodes on the PyTorch engine; leave out --engine onnx")
    from ..api import load_ensemble

    return load_ensemble(dirs)


def translate_command(args: argparse.Namespace) -> int:
    """`seq2seq translate`: one output line per input line (index, score and text per line with --nbest); a line
    that cannot be translated gets an empty output, its reason on stderr, and the command exits 1."""
    from ..translation import InputError
    from ..data.datasets import DataError, decode_line

    model = _load_for_decoding(args.dirs, args.engine)
    options = _seeded(options_from(args, model.config.decode, model.config.data.target_type))
    if args.attention and not model.config.model.attends:
        raise ConfigError(f"--attention {args.attention}: the model has no attention (model.attention=none)")
    name, raw_lines = read_input(args.input)
    sink = open_output(args.output)
    texts, problems = [], []
    for number, raw in enumerate(raw_lines, 1):
        try:
            text = decode_line(Path(name), number, raw)
            model.encode_input(text, options)
        except (DataError, InputError) as e:
            problems.append(f"{name}:{number}: {e.reason if isinstance(e, DataError) else e}")
            text = ""  # an empty output keeps every later line aligned with its input
        texts.append(text)
    results = model.translate(texts, options, attention=bool(args.attention), tokenized=args.tokenized)
    for i, hyps in enumerate(results):
        if options.nbest > 1:
            for h in hyps:
                sink.write(f"{i}\t{h.score:.4f}\t{one_line(h.text)}\n")
        else:
            sink.write(one_line(hyps[0].text) + "\n")
    sink.flush()
    if args.attention and results:
        try:
            from ..plots import attention_heatmap
        except ImportError as e:
            raise ConfigError(f"--attention needs matplotlib ({e}); pip install 'seq2seq[torch]'") from None

        first = next((r[0] for r in results if r[0].attention), None)
        if first is None:
            log.warning("no attention to draw: every input is empty")
        else:
            attention_heatmap(first.attention, first.source_tokens, first.tokens + ["</s>"], args.attention,
                              heads=first.head_attention)
    for problem in problems[:20]:
        print(f"seq2seq: error: {problem}", file=sys.stderr)
    if problems:
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        print(f"seq2seq: {len(problems)} of {len(texts)} input lines not translated{more}; their output lines "
              f"are empty", file=sys.stderr)
        return 1
    return 0


def score_command(args: argparse.Namespace) -> int:
    """`seq2seq score`: each pair's log-probability, one line per pair (JSON with each token's with --tokens)."""
    from ..api import load_ensemble

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {args.batch_size}")
    model = load_ensemble(args.dirs)
    _, pairs = _read_data(args, model.config)
    for result in model.score([s for s, _ in pairs], [t for _, t in pairs], batch_size=args.batch_size):
        if args.tokens:
            print(json.dumps({"score": result.score, "tokens": result.tokens, "token_scores": result.token_scores},
                             ensure_ascii=False))
        else:
            print(f"{result.score:.4f}")
    return 0


def average_command(args: argparse.Namespace) -> int:
    """`seq2seq average`: the mean weights of a run's step checkpoints as a new run directory."""
    from ..averaging import average_checkpoints, pick_steps

    steps = None
    if args.steps is not None:
        try:
            steps = [int(s) for s in args.steps.split(",")]
        except ValueError:
            raise ConfigError(f"--steps takes step numbers separated by commas, got {args.steps!r}") from None
    chosen = pick_steps(args.dir, args.last, steps)
    final = average_checkpoints(args.dir, chosen, args.out)
    numbers = ", ".join(str(int(d.name.removeprefix("step-"))) for d in chosen)
    print(f"averaged {len(chosen)} checkpoints (steps {numbers}) of {args.dir} into {final}")
    return 0


def _seeded(options: DecodeConfig) -> DecodeConfig:
    """Options that sample without a seed get a fresh one, shown so that the run can be repeated."""
    seeded = with_seed(options)
    if seeded is not options:
        log.info("sampling with seed %d (--seed %d repeats this run)", seeded.seed, seeded.seed)
    return seeded


def serve_command(args: argparse.Namespace) -> int:
    """`seq2seq serve`: the HTTP API and page, with the command line's decoding defaults."""
    try:
        from ..serve import ServeOptions, serve
    except ImportError as e:
        raise ConfigError(f"serving needs fastapi and uvicorn ({e}); pip install 'seq2seq[serve]'") from None
    try:
        options = ServeOptions(max_inputs=args.max_inputs, max_input_chars=args.max_input_chars,
                               max_body_bytes=args.max_body_bytes, max_beam=args.max_beam, max_nbest=args.max_nbest,
                               max_output_length=args.max_output_length, batch_wait_ms=args.batch_wait_ms,
                               max_batch=args.max_batch, threads=args.threads)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    serve(args.dir, host=args.host, port=args.port, options=options, which=args.checkpoint, log_level=args.log_level,
          decode=lambda base, target_type: options_from(args, base, target_type), engine=args.engine)
    return 0


def export_command(args: argparse.Namespace) -> int:
    """`seq2seq export`: a run's model as ONNX graphs and JSON/safetensors files in --out."""
    try:
        from ..export import ExportError, export_onnx
    except ImportError as e:
        raise ConfigError(f"exporting needs torch, onnx and onnxruntime ({e}); pip install 'seq2seq[export]'") from None
    try:
        out = export_onnx(args.dir, args.out, which=args.checkpoint)
    except ExportError as e:
        raise ConfigError(str(e)) from None
    print(f"exported {args.dir} to {out} (translate, serve or seq2seq.load it with the onnx engine)")
    return 0


def plot_command(args: argparse.Namespace) -> int:
    """`seq2seq plot`: learning curves of runs to one PNG."""
    from ..plots import learning_curves

    print(learning_curves(args.dirs, args.output))
    return 0


def demo_command(args: argparse.Namespace) -> int:
    """`seq2seq demo`: the seeds' experiments with a report."""
    from ..demo import run_demo

    run_demo(args.out, quick=args.quick, jobs=args.jobs)
    return 0


def config_command(args: argparse.Namespace) -> int:
    """`seq2seq config`: the resolved config as commented YAML."""
    print(commented_yaml(build_config(args.preset, args.config, args.set or [])), end="")
    return 0


def tasks_command(_: argparse.Namespace) -> int:
    """`seq2seq tasks`: the built-in tasks."""
    from ..data.tasks import TASKS

    for name, spec in TASKS.items():
        print(f"{name:14s} {spec.description}")
    return 0


def presets_command(_: argparse.Namespace) -> int:
    """`seq2seq presets`: the named architectures and their settings."""
    for name, (text, values) in PRESETS.items():
        print(f"{name:14s} {text}")
        print(" " * 15 + " ".join(f"{k}={v}" for k, v in values.items()))
    return 0


def inspect_command(args: argparse.Namespace) -> int:
    """`seq2seq data inspect`: counts, lengths, vocabulary and invalid lines of a corpus."""
    from ..data.datasets import format_inspection, inspect_file

    print(format_inspection(inspect_file(args.file, fmt=args.format, tokenizer=args.tokenizer,
                                         source_suffix=args.source_suffix, target_suffix=args.target_suffix)))
    return 0


def wav2fbank_command(args: argparse.Namespace) -> int:
    """`seq2seq features wav2fbank`: log-mel filterbanks of WAV files into an .npz or .npy files."""
    import numpy as np

    from ..audio import wav_to_fbank
    from ..data.feature_files import write_npz

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
