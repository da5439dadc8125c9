"""What each `seq2seq` subcommand does (the parser is in `parser`)."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import PRESETS, Config, ConfigError, DecodeConfig, commented_yaml
from ..config.build import build_config
from ..config.overrides import with_seed
from ..runs.atomic import refused_as, write_text
from .decode_flags import options_from
from .exit_codes import DAMAGED
from .line_io import one_line, open_output, read_input

if TYPE_CHECKING:
    from ..inference.translator import Translator

log = logging.getLogger("seq2seq")


def train_command(args: argparse.Namespace) -> int:
    """`seq2seq train`: build the config from the flags and train into --out (with --resume: the run's config
    with the flags' changes, which `training.resume` checks)."""
    from ..runs.lock import claim_run, is_run
    from ..training import train
    from ..training.resume import run_config

    overrides = list(args.set or [])
    for flag, key in (("task", "data.task"), ("train", "data.train"), ("valid", "data.valid"),
                      ("test", "data.test"), ("data", "data.preprocessed"), ("epochs", "train.epochs"),
                      ("batch_size", "train.batch_size"), ("seed", "train.seed")):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.skip_invalid:
        overrides.append("data.skip_invalid=true")
    # A run to resume is locked before its config.yaml is read: a second trainer is refused before anything.
    resuming = args.resume and is_run(Path(args.out)) and not _distributed()
    lock = claim_run(Path(args.out))[0] if resuming else None
    try:
        base = run_config(args.out) if args.resume else None
        if args.data and not args.resume:
            if args.task or args.train or args.valid or args.test:
                raise ConfigError("--data DIR holds every split: leave out --task, --train, --valid and --test")
            from ..data.manifest import data_overrides

            # The directory's data settings are the layer the run's config starts from.
            base = build_config(overrides=data_overrides(args.data))
        cfg = build_config(args.preset, args.config, overrides, base=base)
        if not args.resume and cfg.data.preprocessed is None and cfg.data.task is None \
                and (cfg.data.train is None or cfg.data.valid is None):
            raise ConfigError("no data: give --task NAME, or --train FILE and --valid FILE, or --data DIR")
        train(cfg, args.out, resume=args.resume, quiet=args.quiet, lock=lock)
    finally:
        if lock is not None:
            lock.release()
    if os.environ.get("RANK", "0") == "0":
        print(f"run directory: {args.out}")
    return 0


def _distributed() -> bool:
    """Whether torchrun started this process among others (then rank 0 locks the run inside the trainer)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def preprocess_command(args: argparse.Namespace) -> int:
    """`seq2seq preprocess`: the corpora of --train/--valid/--test (or the config's data.train/valid/test) encoded
    into the data directory --out."""
    from ..data.preprocess import corpus_list, preprocess

    overrides = list(args.set or []) + (["data.skip_invalid=true"] if args.skip_invalid else [])
    cfg = build_config(args.preset, args.config, overrides)
    d = cfg.data
    corpora = {"train": corpus_list(args.train or ([d.train] if d.train else [])),
               "valid": corpus_list([args.valid or d.valid] if (args.valid or d.valid) else []),
               "test": corpus_list([args.test or d.test] if (args.test or d.test) else [])}
    preprocess(cfg, corpora, args.out, workers=args.workers, progress=not args.quiet and sys.stderr.isatty())
    print(f"data directory: {args.out} (train from it with: seq2seq train --data {args.out} --out RUN)")
    return 0


def _read_data(args: argparse.Namespace, cfg: Config) -> tuple[Config, list]:
    """The run's config with --format applied, and the pairs of --data read as it says."""
    from ..data.corpus import read_split

    if args.format is not None:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, format=args.format))
    return cfg, read_split(args.data, cfg, skip_invalid=args.skip_invalid)


def eval_command(args: argparse.Namespace) -> int:
    """`seq2seq eval`: every metric of a data file as JSON, and the predictions as TSV."""
    from ..data.copying import encode_pair
    from ..data.corpus import within_limits
    from ..evaluation import evaluate, metric_names
    from ..inference.model import load_ensemble

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
    rows = "".join(f"{model.source.show(s)}\t{model.target.show(t)}\t{h}\n" for (s, t), h in zip(pairs, hyps))
    with refused_as(str(out), f"{out} is as it was before", "run eval again (or give --predictions "
                    "elsewhere)"):
        write_text(out, "source\treference\thypothesis\n" + rows)
    print(json.dumps({**metrics, "sentences": len(pairs), "predictions": str(out)}))
    return 0


def _load_for_decoding(dirs: list[str], engine: str) -> Translator:
    """One run on the chosen engine, or several runs as an ensemble (PyTorch only)."""
    if len(dirs) == 1:
        from ..inference.load import load

        return load(dirs[0], engine=engine)
    if engine in ("onnx", "ctranslate2"):
        raise ConfigError(f"an ensemble of {len(dirs)} runs decodes on the PyTorch engine; leave out --engine {engine}")
    from ..inference.model import load_ensemble

    return load_ensemble(dirs)


def translate_command(args: argparse.Namespace) -> int:
    """`seq2seq translate`: one output line per input line (index, score and text per line with --nbest); a line
    that cannot be translated gets an empty output, its reason on stderr, and the command exits 1."""
    from ..data.datasets import DataError, decode_line
    from ..inference.translator import InputError

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
            from ..evaluation.plots import attention_heatmap
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
    from ..inference.model import load_ensemble

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
    from safetensors import SafetensorError

    from ..runs.averaging import average_checkpoints, pick_steps

    steps = None
    if args.steps is not None:
        try:
            steps = [int(s) for s in args.steps.split(",")]
        except ValueError:
            raise ConfigError(f"--steps takes step numbers separated by commas, got {args.steps!r}") from None
    chosen = pick_steps(args.dir, args.last, steps)
    with refused_as(f"the averaged model into {args.out}", f"Nothing was left in {args.out}; {args.dir} was only "
                    f"read", "average again (or choose another --out)", also=(SafetensorError,)):
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
        from ..serve.auth import KEY_ENV, check_exposure
    except ImportError as e:
        raise ConfigError(f"serving needs fastapi, uvicorn and prometheus-client ({e}); "
                          "pip install 'seq2seq[serve]'") from None
    api_key = args.api_key or os.environ.get(KEY_ENV) or None
    try:
        check_exposure(args.host, api_key, args.insecure_no_auth)
        options = ServeOptions(max_inputs=args.max_inputs, max_input_chars=args.max_input_chars,
                               max_body_bytes=args.max_body_bytes, max_beam=args.max_beam, max_nbest=args.max_nbest,
                               max_output_length=args.max_output_length, batch_wait_ms=args.batch_wait_ms,
                               max_batch=args.max_batch, threads=args.threads, max_queue=args.max_queue,
                               max_queue_ms=args.max_queue_ms, max_connections=args.max_connections,
                               request_timeout=args.request_timeout, drain_seconds=args.drain_seconds)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    serve(args.dir, host=args.host, port=args.port, options=options, which=args.checkpoint, log_level=args.log_level,
          decode=lambda base, target_type: options_from(args, base, target_type), engine=args.engine,
          api_key=api_key, cors_origins=args.cors_origin, insecure_no_auth=args.insecure_no_auth)
    return 0


def export_command(args: argparse.Namespace) -> int:
    """`seq2seq export`: a run's model as ONNX graphs or a CTranslate2 model, with JSON/safetensors files, in --out."""
    if args.format == "ctranslate2":
        try:
            from ..ct2.convert import ConversionError, export_ctranslate2
        except ImportError as e:
            raise ConfigError(f"converting needs torch and ctranslate2 ({e}); "
                              f"pip install 'seq2seq[torch,ctranslate2]'") from None
        failure: type[Exception] = ConversionError
        write = functools.partial(export_ctranslate2, args.dir, args.out, which=args.checkpoint,
                                  quantization=args.quantize, shortlist=args.shortlist)
    else:
        if args.shortlist:
            raise ConfigError("--shortlist is for --format ctranslate2 (the onnx engine scores the whole vocabulary)")
        try:
            from ..export import ExportError, export_onnx
        except ImportError as e:
            raise ConfigError(f"exporting needs torch, onnx and onnxruntime ({e}); "
                              f"pip install 'seq2seq[export]'") from None
        failure = ExportError
        write = functools.partial(export_onnx, args.dir, args.out, which=args.checkpoint, quantize=args.quantize)
    try:
        with refused_as(f"the export into {args.out}", f"Nothing was written to {args.out} (what it held before is "
                        f"unchanged)", "export again (or choose another --out)"):
            out = write()
    except failure as e:
        raise ConfigError(str(e)) from None
    print(f"exported {args.dir} to {out} (translate, serve or seq2seq.load it with the {args.format} engine)")
    return 0


def check_command(args: argparse.Namespace) -> int:
    """`seq2seq check`: every checkpoint of a run verified, one line each; exit 5 when one is damaged."""
    from ..runs.check import check_run

    report = check_run(args.dir)
    print("\n".join(report.lines))
    return DAMAGED if report.damaged else 0


def plot_command(args: argparse.Namespace) -> int:
    """`seq2seq plot`: learning curves of runs to one PNG."""
    from ..evaluation.plots import learning_curves

    print(learning_curves(args.dirs, args.output))
    return 0


def demo_command(args: argparse.Namespace) -> int:
    """`seq2seq demo`: the experiments of Saito's Deep Learning from Scratch 2, ch. 7-8, with a report."""
    from ..demo.run import run_demo

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

    from ..data.audio import wav_to_fbank
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
