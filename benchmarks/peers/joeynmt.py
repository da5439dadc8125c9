"""JoeyNMT 2.3.0's row of the peers harness (its own venv): the RNN of the `ours-256x2` shape."""

from __future__ import annotations

import json
import re
from pathlib import Path

from common import MAX_LEN, VENVS, bleu, mean_length, sh, steady


def joey_config(data: Path, work: Path, args, beam: int) -> str:
    """JoeyNMT's config file of the `ours-256x2` shape, decoding with `beam`; its path."""
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
    """Train JoeyNMT's RNN (256 per encoder direction) and decode the test set greedy and beam 5."""
    py = VENVS / "joeynmt" / "bin" / "python"
    work.mkdir(parents=True, exist_ok=True)
    if not args.decode_only:
        sh([str(py), "-m", "joeynmt", "train", joey_config(data, work, args, 1), "--skip-test"], work / "train.log",
           args.threads, pin=args.pin)
    log = (work / "train.log").read_text()
    rates = [float(x) for x in re.findall(r"Tokens per Sec:\s*([\d.]+)", log)]
    params = int(re.search(r"Total params: (\d+)", log).group(1))
    result = {"params": params, "train_tgt_tok_s": steady(rates)}
    for name, beam in (("greedy", 1), ("beam5", 5)):
        sh([str(py), "-m", "joeynmt", "test", joey_config(data, work, args, beam), "--output-path", str(work / name)],
           work / f"{name}.log", args.threads, pin=args.pin)
        secs = float(re.findall(r"Generation took ([\d.]+)\[sec\]", (work / f"{name}.log").read_text())[-1])
        hyp = work / f"{name}.test"
        result[f"{name}_sent_s"] = len(hyp.read_text(encoding="utf-8").splitlines()) / secs
        result[f"bleu_{name}"], result[f"len_{name}"] = bleu(hyp, data / "test.de"), mean_length(hyp)
    return result
