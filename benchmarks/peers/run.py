"""seq2seq against OpenNMT-py and JoeyNMT: same architecture, corpus, steps and cores, one table.

Luong-style RNN: embedding 256, 1-layer bidirectional LSTM encoder, 1-layer LSTM decoder of 256,
general attention with input feeding, dropout 0.2, batches of 64 sentences, Adam 1e-3, clipping 5.
Every system trains `--steps` steps on the same tokenised corpus (Multi30k en->de, lower-cased,
punctuation split by our `word` tokenizer, vocabularies of tokens seen twice), then decodes the test set
greedy and with beam 5 (64 sentences a batch, at most 100 output tokens), one after another on the same
pinned core with one thread. Reported: target tokens/s in training (steady state: the first logging
interval of `--report-every` steps is left out, for every system), test sentences/s, BLEU (sacrebleu on
the tokenised text, `tokenize=none`, the same scorer for everyone).

"A bidirectional LSTM encoder of 256" means 128 per direction in OpenNMT-py (brnn, hidden_size 256)
but 256 per direction in JoeyNMT (hidden_size 256, bidirectional): ours runs in both shapes,
`ours-128x2` (model.encoder_hidden=128) and `ours-256x2` (model.encoder_hidden=256), each beside the peer
of its shape; parameter counts are printed.

Transformer rows (`ours-transformer`, `opennmt-transformer`): pre-norm, 3+3 layers of 256, 4 heads,
feed-forward 1024, sinusoidal positions, dropout 0.1 and attention dropout 0.1, output layer tied to the
target embedding, the same batches of 64 sentences, Adam 1e-3 and clipping 5 (a speed comparison: neither
runs its learning-rate warm-up here).

    bash benchmarks/peers/install.sh            # once: peer venvs under benchmarks/peers/.venvs/
    python benchmarks/peers/run.py --steps 300 --pin 0

`ours-onnx` is `ours-128x2`'s trained model exported to ONNX and decoded by the ONNX engine (onnxruntime +
numpy, one thread): its training columns are `ours-128x2`'s, since it is the same model (run it after
`ours-128x2`). `ours-onnx-int8` is the same with `--quantize int8`; `ours-transformer-onnx[-int8]` and
`ours-transformer-ct2[-int8]` decode `ours-transformer`'s model on the ONNX engine and on CTranslate2
(`export --format ctranslate2`), float32 and int8.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for machine.py
from machine import machine_line, print_machine  # noqa: E402  the machine line every benchmark prints

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENVS = HERE / ".venvs"
MULTI30K = ROOT.parent / "shared" / "data" / "multi30k"
SPLITS = {"train": "train", "val": "val", "test": "test_2016_flickr"}
MAX_LEN = 100


THREADS = "1"  # --threads: every system's intra-op threads


def sh(cmd: list[str], log: Path, env: dict | None = None, pin: str | None = None, cwd: Path | None = None) -> float:
    """Run cmd (pinned, THREADS threads), output to log; returns wall seconds. Raises on failure."""
    e = dict(os.environ, OMP_NUM_THREADS=THREADS, MKL_NUM_THREADS=THREADS, **(env or {}))
    if pin is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", pin] + cmd
    start = time.perf_counter()
    with open(log, "w") as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=e, cwd=cwd).returncode
    if rc != 0:
        tail = "".join(log.read_text().splitlines(True)[-8:])
        raise RuntimeError(f"{' '.join(cmd[:4])}... failed ({rc}); see {log}:\n" + tail)
    return time.perf_counter() - start


def prepare(out: Path) -> Path:
    """Tokenise Multi30k once with our word tokenizer; every system reads these files."""
    sys.path.insert(0, str(ROOT / "src"))
    from seq2seq.data.tokenizers import build_tokenizer

    tok = build_tokenizer("word", word_split="punct", lowercase=True)
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    for name, stem in SPLITS.items():
        for lang in ("en", "de"):
            dest = data / f"{name}.{lang}"
            if dest.exists():
                continue
            lines = gzip.open(MULTI30K / f"{stem}.{lang}.gz", "rt", encoding="utf-8").read().splitlines()
            dest.write_text("".join(" ".join(tok.tokenize(x.strip())) + "\n" for x in lines), encoding="utf-8")
    return data


def bleu(hyp_file: Path, ref_file: Path) -> float:
    import sacrebleu

    hyps = hyp_file.read_text(encoding="utf-8").splitlines()
    refs = ref_file.read_text(encoding="utf-8").splitlines()
    return sacrebleu.corpus_bleu(hyps, [refs], tokenize="none").score


def steady(values: list[float]) -> float:
    """Mean over logging intervals, the first (warm-up) left out when there are more."""
    return sum(values[1:]) / len(values[1:]) if len(values) > 1 else values[0]


# -- ours --

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
ONNX = {"ours-onnx": ("ours-128x2", "onnx", None), "ours-transformer-onnx": ("ours-transformer", "onnx", None),
        "ours-onnx-int8": ("ours-128x2", "onnx", "int8"),
        "ours-transformer-onnx-int8": ("ours-transformer", "onnx", "int8"),
        "ours-transformer-ct2": ("ours-transformer", "ctranslate2", "float32"),
        "ours-transformer-ct2-int8": ("ours-transformer", "ctranslate2", "int8")}


def run_ours(data: Path, work: Path, args, system: str) -> dict:
    preset, sets = OURS[system]
    work.mkdir(parents=True, exist_ok=True)
    trained = json.loads((work / "speed.json").read_text()) if args.decode_only else None
    cmd = [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--worker", str(work / "speed.json"),
           "--train", str(data / "train"), "--valid", str(data / "val"), "--test", str(data / "test"),
           "--no-multi30k", "--preset", preset, "--steps", str(args.steps - args.report_every),
           "--warmup", str(args.report_every), "--threads", THREADS, "--seed", "1", "--max-length", str(MAX_LEN),
           "--hyps-dir", str(work), "--log-every", str(args.report_every)]
    # --decode-only: the run saved before decodes again (one step of a throw-away model is all that trains).
    cmd += ["--checkpoint", str(work / "run"), "--steps", "1", "--warmup", "0"] if trained else \
        ["--save-run", str(work / "run")]
    for s in ("data.format=pair", "data.source_suffix=.en", "data.target_suffix=.de", "data.tokenizer=word",
              "data.word_split=whitespace", "data.min_freq=2", "model.embedding_size=256", *sets):
        cmd += ["--set", s]
    sh(cmd, work / "log.txt", pin=args.pin)
    r = json.loads((work / "speed.json").read_text())
    if trained:
        r["train"], r["flops"] = trained["train"], trained["flops"]
        (work / "speed.json").write_text(json.dumps({**r, "decoded_again": True}, indent=2))
    return {"params": r["parameters"], "train_tgt_tok_s": r["train"]["target_tokens_per_second"],
            "greedy_sent_s": r["decode"]["greedy"]["sentences_per_second"],
            "beam5_sent_s": r["decode"]["beam5"]["sentences_per_second"],
            "bleu_greedy": bleu(work / "greedy.txt", data / "test.de"),
            "bleu_beam5": bleu(work / "beam5.txt", data / "test.de"),
            "fraction_of_peak": r["flops"]["fraction_of_peak"]}


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
    sh(cmd, work / "log.txt", pin=args.pin)
    r = json.loads((work / "log.txt").read_text().strip().splitlines()[-1])
    return {"params": r["parameters"], "train_tgt_tok_s": trained.get("train_tgt_tok_s", float("nan")),
            "greedy_sent_s": r["greedy_sent_s"], "beam5_sent_s": r["beam5_sent_s"],
            "bleu_greedy": bleu(work / "greedy.txt", data / "test.de"),
            "bleu_beam5": bleu(work / "beam5.txt", data / "test.de")}


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
        sh(launcher + train + ["--out", str(out)], work / f"log{procs}.txt", pin=args.pin)
        seconds = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["seconds"]
        result[f"procs{procs}_tgt_tok_s"] = tgt_tokens / seconds
    return {"params": float("nan"), "train_tgt_tok_s": result["procs2_tgt_tok_s"], **result}


# -- OpenNMT-py --

# OpenNMT-py's Transformer of the `ours-transformer` shape (its layers are pre-norm too).
OPENNMT_TRANSFORMER = {"encoder_type": "transformer", "decoder_type": "transformer", "position_encoding": True,
                       "layers": 3, "heads": 4, "hidden_size": 256, "word_vec_size": 256,
                       "transformer_ff": 1024, "dropout": [0.1], "attention_dropout": [0.1],
                       "share_decoder_embeddings": True, "param_init": 0.0, "param_init_glorot": True}


def run_opennmt(data: Path, work: Path, args, transformer: bool = False) -> dict:
    py = VENVS / "opennmt" / "bin" / "python"
    work.mkdir(parents=True, exist_ok=True)
    cfg = {
        "save_data": str(work / "run"), "src_vocab": str(work / "vocab.src"), "tgt_vocab": str(work / "vocab.tgt"),
        "overwrite": True,
        "data": {"corpus_1": {"path_src": str(data / "train.en"), "path_tgt": str(data / "train.de")},
                 "valid": {"path_src": str(data / "val.en"), "path_tgt": str(data / "val.de")}},
        "src_words_min_frequency": 2, "tgt_words_min_frequency": 2,
        "encoder_type": "brnn", "decoder_type": "rnn", "rnn_type": "LSTM", "word_vec_size": 256,
        "hidden_size": 256, "layers": 1, "global_attention": "general", "input_feed": 1, "bridge": True,
        "dropout": [0.2], "batch_size": 64, "batch_type": "sents", "valid_batch_size": 64,
        "optim": "adam", "learning_rate": 0.001, "max_grad_norm": 5, "train_steps": args.steps,
        "valid_steps": args.steps, "save_checkpoint_steps": args.steps, "report_every": args.report_every,
        "save_model": str(work / "model"), "seed": 1, "num_workers": 0, "world_size": 1, "gpu_ranks": [],
    }
    if transformer:
        cfg = {k: v for k, v in cfg.items() if k not in ("rnn_type", "global_attention", "input_feed", "bridge")}
        cfg.update(OPENNMT_TRANSFORMER)
    (work / "config.yaml").write_text(json.dumps(cfg))  # JSON is YAML
    env = {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}  # OpenNMT-py 3.5.1 pickles its checkpoints
    if not args.decode_only:
        sh([str(py), "-m", "onmt.bin.build_vocab", "-config", str(work / "config.yaml"), "-n_sample", "-1"],
           work / "vocab.log", env)
        sh([str(py), "-m", "onmt.bin.train", "-config", str(work / "config.yaml")], work / "train.log", env, args.pin)
    log = (work / "train.log").read_text()
    tgt_rates = [float(m.group(2)) for m in re.finditer(r"(\d+)/\s*(\d+) tok/s", log)]
    params = int(re.search(r"\* number of parameters: (\d+)", log).group(1))
    result = {"params": params, "train_tgt_tok_s": steady(tgt_rates)}
    for name, beam in (("greedy", 1), ("beam5", 5)):
        hyp = work / f"{name}.txt"
        sh([str(py), "-m", "onmt.bin.translate", "-model", str(work / f"model_step_{args.steps}.pt"),
            "-src", str(data / "test.en"), "-output", str(hyp), "-beam_size", str(beam), "-batch_size", "64",
            "-batch_type", "sents", "-max_length", str(MAX_LEN), "-report_time", "-gpu", "-1"],
           work / f"{name}.log", env, args.pin)
        secs = float(re.search(r"Total translation time \(s\): ([\d.]+)", (work / f"{name}.log").read_text()).group(1))
        n = len(hyp.read_text(encoding="utf-8").splitlines())
        result[f"{name}_sent_s"] = n / secs
        result[f"bleu_{name}"] = bleu(hyp, data / "test.de")
    return result


# -- JoeyNMT --

def joey_config(data: Path, work: Path, args, beam: int) -> str:
    side = lambda lang: {"lang": lang, "level": "word", "lowercase": False, "normalize": False,  # noqa: E731
                         "max_length": 100, "min_length": 1, "voc_min_freq": 2, "voc_limit": 100000}
    cfg = {
        "name": "peer", "joeynmt_version": "2.3.0",
        "data": {"train": str(data / "train"), "dev": str(data / "val"), "test": str(data / "test"),
                 "dataset_type": "plain", "src": side("en"), "trg": side("de")},
        "testing": {"n_best": 1, "beam_size": beam, "beam_alpha": 0.0, "batch_size": 64,
                    "batch_type": "sentence", "max_output_length": MAX_LEN, "eval_metrics": ["bleu"],
                    "sacrebleu_cfg": {"tokenize": "none"},
                    "load_model": str(work / "model" / f"{args.steps}.ckpt")},
        "training": {"model_dir": str(work / "model"), "overwrite": True, "optimizer": "adam",
                     "learning_rate": 0.001, "scheduling": "exponential", "decrease_factor": 1.0,
                     "clip_grad_norm": 5.0, "batch_size": 64, "batch_type": "sentence",
                     "max_updates": args.steps, "updates": args.steps,  # 2.3.0 reads `updates`
                     "epochs": 1000, "validation_freq": args.steps,
                     "logging_freq": args.report_every, "eval_metrics": ["bleu"],
                     "early_stopping_metric": "loss", "shuffle": True, "use_cuda": False, "fp16": False,
                     "random_seed": 1, "print_valid_sents": [], "keep_best_ckpts": 1, "num_workers": 0},
        "model": {"initializer": "xavier_uniform", "bias_initializer": "zeros", "init_rnn_orthogonal": False,
                  "encoder": {"type": "recurrent", "rnn_type": "lstm", "embeddings": {"embedding_dim": 256},
                              "hidden_size": 256, "bidirectional": True, "dropout": 0.2,
                              "num_layers": 1},
                  "decoder": {"type": "recurrent", "rnn_type": "lstm", "embeddings": {"embedding_dim": 256},
                              "hidden_size": 256, "dropout": 0.2, "hidden_dropout": 0.2,
                              "num_layers": 1, "input_feeding": True, "init_hidden": "bridge",
                              "attention": "luong"}},
    }
    path = work / f"config.beam{beam}.yaml"
    path.write_text(json.dumps(cfg))
    return str(path)


def run_joeynmt(data: Path, work: Path, args) -> dict:
    py = VENVS / "joeynmt" / "bin" / "python"
    work.mkdir(parents=True, exist_ok=True)
    if not args.decode_only:
        sh([str(py), "-m", "joeynmt", "train", joey_config(data, work, args, 1), "--skip-test"], work / "train.log",
           pin=args.pin)
    log = (work / "train.log").read_text()
    rates = [float(x) for x in re.findall(r"Tokens per Sec:\s*([\d.]+)", log)]
    params = int(re.search(r"Total params: (\d+)", log).group(1))
    result = {"params": params, "train_tgt_tok_s": steady(rates)}
    for name, beam in (("greedy", 1), ("beam5", 5)):
        sh([str(py), "-m", "joeynmt", "test", joey_config(data, work, args, beam), "--output-path", str(work / name)],
           work / f"{name}.log", pin=args.pin)
        secs = float(re.findall(r"Generation took ([\d.]+)\[sec\]", (work / f"{name}.log").read_text())[-1])
        hyp = work / f"{name}.test"
        result[f"{name}_sent_s"] = len(hyp.read_text(encoding="utf-8").splitlines()) / secs
        result[f"bleu_{name}"] = bleu(hyp, data / "test.de")
    return result


def run_system(system: str, data: Path, out: Path, args, rows: dict) -> dict:
    """Train and decode one system; its row."""
    peer = system.split("-")[0]
    if system in ONNX:
        base, engine, quantize = ONNX[system]
        return run_ours_onnx(data, out / system, args, base, rows.get(base, {}), engine, quantize)
    if system in OURS:
        return run_ours(data, out / system, args, system)
    if system == "ours-128x2-torchrun":
        return run_ours_torchrun(data, out / system, args)
    if not (VENVS / peer / ".installed").exists():
        raise RuntimeError(f"not installed (bash benchmarks/peers/install.sh {peer}; "
                           f"see {VENVS / (peer + '.install.log')})")
    if peer == "opennmt":
        return run_opennmt(data, out / system, args, transformer=system.endswith("-transformer"))
    return run_joeynmt(data, out / system, args)


def run_systems(systems: list[str], pin: str | None, data: Path, out: Path, args, rows: dict, notes: list) -> None:
    """Run `systems` one after another on `pin`, filling rows (and notes for those that could not run)."""
    args = argparse.Namespace(**{**vars(args), "pin": pin})
    for system in systems:
        print(f"== {system} (CPU {pin})", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            rows[system] = run_system(system, data, out, args, rows)
        except Exception as e:  # a peer that cannot run is skipped, saying why
            notes.append(f"{system}: skipped: {e}")
            print(notes[-1], file=sys.stderr)
            continue
        print(f"   {system}: {time.perf_counter() - start:.0f} s: {rows[system]}", file=sys.stderr, flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--report-every", type=int, default=50, help="logging interval; the first is warm-up")
    p.add_argument("--pin", default="0", help="taskset CPU list ('' = no pinning)")
    p.add_argument("--systems", default="ours-128x2,ours-onnx,opennmt,ours-256x2,joeynmt,ours-transformer,"
                                        "ours-transformer-onnx,opennmt-transformer")
    p.add_argument("--peer-pin", help="run the peers on this CPU list, at the same time as ours on --pin")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads of every system")
    p.add_argument("--decode-only", action="store_true",
                   help="decode the models an earlier run of the same --out trained again (training figures kept)")
    p.add_argument("--out", default="runs/peers")
    args = p.parse_args()
    print_machine()
    global THREADS
    THREADS = str(args.threads)
    args.pin = args.pin or None
    out = Path(args.out).resolve()
    data = prepare(out)
    rows, notes = {}, []
    systems = args.systems.split(",")
    if args.peer_pin is None:
        run_systems(systems, args.pin, data, out, args, rows, notes)
    else:
        # Two queues on two cores at once: ours on --pin, the peers on --peer-pin (subprocesses, so threads do).
        mine = [s for s in systems if s.startswith("ours")]
        queues = [(mine, args.pin), ([s for s in systems if s not in mine], args.peer_pin)]
        workers = [threading.Thread(target=run_systems, args=(q, pin, data, out, args, rows, notes))
                   for q, pin in queues]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        rows = {s: rows[s] for s in systems if s in rows}
    import torch

    where = f"ours on CPU {args.pin}, peers on CPU {args.peer_pin} at the same time" if args.peer_pin else \
        f"pinned to CPU {args.pin}"
    lines = [machine_line(),
             f"{args.steps} steps, batch 64 sentences, {where}, {THREADS} thread(s), torch {torch.__version__}",
             "", "| system | params | train tgt tok/s | greedy sent/s | beam-5 sent/s | BLEU greedy | BLEU beam-5 |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    cell = lambda r, key, digits: f"{r[key]:,.{digits}f}" if key in r else "–"  # noqa: E731
    for name, r in rows.items():
        params = f"{r['params'] / 1e6:.2f}M" if r.get("params") == r.get("params") else "–"
        lines.append(f"| {name} | {params} | {cell(r, 'train_tgt_tok_s', 0)} | {cell(r, 'greedy_sent_s', 1)} | "
                     f"{cell(r, 'beam5_sent_s', 1)} | {cell(r, 'bleu_greedy', 2)} | {cell(r, 'bleu_beam5', 2)} |")
    for ours, peer in (("ours-128x2", "opennmt"), ("ours-onnx", "opennmt"), ("ours-onnx", "ours-128x2"),
                       ("ours-256x2", "joeynmt"), ("ours-128x2", "joeynmt"), ("ours-onnx", "joeynmt"),
                       ("ours-transformer", "opennmt-transformer"), ("ours-transformer-onnx", "opennmt-transformer"),
                       ("ours-transformer-onnx", "ours-transformer"), ("ours-onnx-int8", "ours-onnx"),
                       ("ours-onnx-int8", "opennmt"), ("ours-transformer-ct2", "opennmt-transformer"),
                       ("ours-transformer-ct2-int8", "opennmt-transformer"),
                       ("ours-transformer-ct2", "ours-transformer"),
                       ("ours-transformer-ct2-int8", "ours-transformer-ct2"),
                       ("ours-transformer-onnx-int8", "ours-transformer-onnx")):
        if ours in rows and peer in rows and "greedy_sent_s" in rows[ours]:
            a, b = rows[ours], rows[peer]
            lines.append(f"\n{ours} / {peer}: training {a['train_tgt_tok_s'] / b['train_tgt_tok_s']:.2f}x, greedy "
                         f"{a['greedy_sent_s'] / b['greedy_sent_s']:.2f}x, "
                         f"beam-5 {a['beam5_sent_s'] / b['beam5_sent_s']:.2f}x")
    lines += [""] + notes
    md = "\n".join(lines) + "\n"
    print(md)
    (out / "peers.md").write_text(md)
    (out / "peers.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
