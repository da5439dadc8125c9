"""OpenNMT-py's rows of the peers harness: its RNN and Transformer trained and decoded by OpenNMT-py 3.5.1
(its own venv), its Transformer converted by CTranslate2's own converter and decoded by CTranslate2, and its
multi-process training tried on CPU."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from common import BIN, HERE, MAX_LEN, VENVS, bleu, mean_length, scores, sh, steady

PY = VENVS / "opennmt" / "bin" / "python"
ENV = {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}  # OpenNMT-py 3.5.1 pickles its checkpoints

# OpenNMT-py's Transformer of the `ours-transformer` shape (its layers are pre-norm too).
OPENNMT_TRANSFORMER = {"encoder_type": "transformer", "decoder_type": "transformer", "position_encoding": True,
                       "layers": 3, "heads": 4, "hidden_size": 256, "word_vec_size": 256,
                       "transformer_ff": 1024, "dropout": [0.1], "attention_dropout": [0.1],
                       "share_decoder_embeddings": True, "param_init": 0.0, "param_init_glorot": True}


def opennmt_config(data: Path, work: Path, args, transformer: bool) -> dict:
    """OpenNMT-py's training config of the RNN (or Transformer) shape, data and schedule the rows share."""
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
    return cfg


def train_opennmt(work: Path, args, cfg: dict, log: str = "train.log") -> None:
    """Build OpenNMT-py's vocabularies and train on `cfg`, pinned."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.yaml").write_text(json.dumps(cfg))  # JSON is YAML
    sh([str(PY), "-m", "onmt.bin.build_vocab", "-config", str(work / "config.yaml"), "-n_sample", "-1"],
       work / "vocab.log", args.threads, ENV, args.pin)
    sh([str(PY), "-m", "onmt.bin.train", "-config", str(work / "config.yaml")], work / log, args.threads, ENV,
       args.pin)


def run_opennmt(data: Path, work: Path, args, transformer: bool = False) -> dict:
    """Train OpenNMT-py (RNN or Transformer of our rows' shapes) and decode the test set greedy and beam 5."""
    if not args.decode_only:
        train_opennmt(work, args, opennmt_config(data, work, args, transformer))
    log = (work / "train.log").read_text()
    tgt_rates = [float(m.group(2)) for m in re.finditer(r"(\d+)/\s*(\d+) tok/s", log)]
    params = int(re.search(r"\* number of parameters: (\d+)", log).group(1))
    result = {"params": params, "train_tgt_tok_s": steady(tgt_rates)}
    # -max_length_ratio 0: OpenNMT-py 3.5.1 otherwise caps a batch's outputs at 1.25 x its longest source + 5
    # tokens (onmt/translate/translator.py), not at the 100 tokens every other row stops at.
    for name, beam in (("greedy", 1), ("beam5", 5)):
        hyp = work / f"{name}.txt"
        sh([str(PY), "-m", "onmt.bin.translate", "-model", str(work / f"model_step_{args.steps}.pt"),
            "-src", str(data / "test.en"), "-output", str(hyp), "-beam_size", str(beam), "-batch_size", "64",
            "-batch_type", "sents", "-max_length", str(MAX_LEN), "-max_length_ratio", "0", "-report_time", "-gpu",
            "-1"],
           work / f"{name}.log", args.threads, ENV, args.pin)
        secs = float(re.search(r"Total translation time \(s\): ([\d.]+)", (work / f"{name}.log").read_text()).group(1))
        n = len(hyp.read_text(encoding="utf-8").splitlines())
        result[f"{name}_sent_s"] = n / secs
        result[f"bleu_{name}"], result[f"len_{name}"] = bleu(hyp, data / "test.de"), mean_length(hyp)
    return result


# CTranslate2's converter of OpenNMT-py checkpoints, per row: its quantization.
CONVERTED = {"opennmt-transformer-ct2": "float32", "opennmt-transformer-ct2-int8": "int8"}
# Output length of the fixed-length rounds: the references' mean is about 12 tokens, barely trained models' more.
FIXED_LENGTH = 30
# Our CTranslate2 exports (written by the rows of these names), decoded by the same code beside them.
OURS_CT2 = {"ours-transformer-ct2": "ours-transformer-ct2-direct",
            "ours-transformer-ct2-int8": "ours-transformer-ct2-int8-direct"}


RENAME_ATTENTION = """
import sys, torch
ckpt = torch.load(sys.argv[1], map_location="cpu", weights_only=False)  # the harness's own checkpoint
if getattr(ckpt["opt"], "self_attn_type", "scaled-dot") == "scaled-dot-flash":
    ckpt["opt"].self_attn_type = "scaled-dot"
torch.save(ckpt, sys.argv[2] + ".tmp")
import os; os.replace(sys.argv[2] + ".tmp", sys.argv[2])
"""


def run_opennmt_ct2(data: Path, out: Path, args, rows: dict) -> dict[str, dict]:
    """OpenNMT-py's trained Transformer converted by `ct2-opennmt-py-converter` (float32, int8) and decoded by
    CTranslate2 (ct2_decode.py) alternating with our CTranslate2 exports of `ours-transformer` where those rows
    ran: the rows `opennmt-transformer-ct2[-int8]` and `ours-transformer-ct2[-int8]-direct`."""
    checkpoint = out / "opennmt-transformer" / f"model_step_{args.steps}.pt"
    if not checkpoint.exists():
        raise RuntimeError("run opennmt-transformer first (its trained model is what the converter reads)")
    work = out / "opennmt-transformer-ct2"
    work.mkdir(parents=True, exist_ok=True)
    # OpenNMT-py 3.5.1's default self_attn_type "scaled-dot-flash" differs from "scaled-dot" only on a GPU (on a
    # CPU both compute softmax(QK^T / sqrt(d)) V, onmt/modules/multi_headed_attn.py), but the converter knows
    # only the latter's name: it reads a copy of the checkpoint with that name.
    renamed = work / "model_scaled_dot.pt"
    sh([sys.executable, "-c", RENAME_ATTENTION, str(checkpoint), str(renamed)], work / "rename.log", 1, ENV, args.pin)
    models = {}
    for name, quantization in CONVERTED.items():
        sh([str(BIN / "ct2-opennmt-py-converter"), "--model_path", str(renamed), "--output_dir",
            str(work / name), "--quantization", quantization, "--force", "--unsafe_deserialization"],
           work / f"{name}.convert.log", 1, ENV, args.pin)
        models[name] = work / name
    for exported, name in OURS_CT2.items():
        if (out / exported / "exported" / "model.bin").exists():
            models[name] = out / exported / "exported"
    cmd = [sys.executable, str(HERE / "ct2_decode.py"), "--source", str(data / "test.en"), "--out", str(work),
           "--max-length", str(MAX_LEN), "--rounds", str(args.ct2_rounds), "--fixed-length", str(FIXED_LENGTH)] + \
        [f"{n}={d}" for n, d in models.items()]
    sh(cmd, work / "decode.log", 1, pin=args.pin)
    speeds = json.loads((work / "decode.log").read_text().strip().splitlines()[-1])
    result = {}
    for name in models:
        base = rows.get("opennmt-transformer" if name in CONVERTED else "ours-transformer", {})
        result[name] = {"params": base.get("params", float("nan")),
                        "train_tgt_tok_s": base.get("train_tgt_tok_s", float("nan")),
                        **{k: v for k, v in speeds[name].items() if k.endswith("_sent_s")},
                        **scores(work / f"{name}.greedy.txt", work / f"{name}.beam5.txt", data / "test.de")}
    return result


def run_opennmt_procs(data: Path, work: Path, args) -> dict:
    """OpenNMT-py's RNN trained by 2 processes (world_size 2, gloo) on the pinned CPUs, if it can: 3.5.1 starts
    one process per GPU rank and gives each a CUDA device, so on a CPU-only machine this is expected to fail;
    the failure is reported with OpenNMT-py's own last line."""
    cfg = {**opennmt_config(data, work, args, False), "world_size": 2, "gpu_ranks": [0, 1], "gpu_backend": "gloo"}
    try:
        train_opennmt(work, args, cfg)
    except RuntimeError:
        log = (work / "train.log").read_text(errors="replace")
        errors = re.findall(r"^(\w+Error: .+)$", log, re.MULTILINE)  # the first process's own error
        raise RuntimeError("OpenNMT-py 3.5.1 trains in several processes only on GPUs (one process per "
                           "gpu_ranks entry, each given a CUDA device: onmt/bin/train.py, onmt/train_single.py); "
                           f"world_size 2 on CPU failed: {errors[0] if errors else 'see ' + str(work / 'train.log')}"
                           ) from None
    log = (work / "train.log").read_text()
    return {"params": int(re.search(r"\* number of parameters: (\d+)", log).group(1)),
            "train_tgt_tok_s": steady([float(m.group(2)) for m in re.finditer(r"(\d+)/\s*(\d+) tok/s", log)])}
