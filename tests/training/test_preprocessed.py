"""Training from a `seq2seq preprocess` directory: the same run as from the text files, bit for bit, killed and
resumed exactly, and memory that holds no Python object per pair."""

import os
import random
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import seq2seq
from seq2seq import build_config
from seq2seq.data.batching import make_batches
from seq2seq.data.preprocess import preprocess
from seq2seq.data.shards import MappedPairs, open_preprocessed

WORDS = "a man woman dog runs sits on the red blue street , . ein Mann Frau Hund läuft sitzt auf der roten".split()
SMALL = {"model.embedding_size": 16, "model.encoder_hidden": 32, "model.decoder_hidden": 32, "train.threads": 1,
         "train.batch_size": 16, "train.eval_every": 10, "data.tokenizer": "word", "data.reverse_source": True}


def _corpus(path, n, seed):
    rng = random.Random(seed)
    words = lambda: " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 9)))  # noqa: E731
    path.write_text("".join(f"{words()}\t{words()}\n" for _ in range(n)), encoding="utf-8")
    return str(path)


@pytest.fixture
def corpus(tmp_path):
    files = {"train": _corpus(tmp_path / "train.tsv", 400, 1), "valid": _corpus(tmp_path / "valid.tsv", 30, 2)}
    cfg = build_config(preset="luong", overrides={**SMALL, "data.train": files["train"], "data.valid": files["valid"]})
    preprocess(cfg, {split: [(split, path)] for split, path in files.items()}, tmp_path / "data", workers=2,
               chunk_size=64, progress=False)
    return cfg, tmp_path / "data"


def _losses(run):
    import json

    rows = map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
    return [(r["train_loss"], r["valid_loss"]) for r in rows]


@pytest.mark.slow
def test_training_from_the_directory_equals_training_from_the_text_files(corpus, tmp_path, same_weights):
    cfg, data = corpus
    seq2seq.train(build_config(preset="luong", overrides={**SMALL, "train.epochs": 2, "data.train": cfg.data.train,
                                                          "data.valid": cfg.data.valid}), tmp_path / "text", quiet=True)
    seq2seq.train(build_config(preset="luong", overrides={**SMALL, "train.epochs": 2, "data.preprocessed": str(data)}),
                  tmp_path / "mapped", quiet=True)
    assert _losses(tmp_path / "text") == _losses(tmp_path / "mapped") and len(_losses(tmp_path / "text")) >= 4
    same_weights(tmp_path / "text", tmp_path / "mapped")


def _launch(data, out, *extra):
    args = [sys.executable, "-m", "seq2seq", "train", "--data", str(data), "--preset", "luong", "--out", str(out),
            "--epochs", "3", "--quiet"]
    for key, value in SMALL.items():
        if key != "data.tokenizer":  # the directory's setting, taken from its manifest
            args += ["--set", f"{key}={value}"]
    return subprocess.Popen(args + list(extra), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONHASHSEED": "0"})


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_to_the_same_weights(corpus, tmp_path, killed_run_resumes_identically):
    _, data = corpus
    full, killed = killed_run_resumes_identically(lambda out: _launch(data, out), tmp_path)
    assert _losses(full)[-1] == _losses(killed)[-1]


def test_batching_a_directory_holds_no_python_object_per_pair(tmp_path):
    n = 200_000
    lengths = np.random.default_rng(0).integers(1, 40, size=n).astype(np.uint16)
    folder = tmp_path / "train"
    folder.mkdir()
    for side in ("source", "target"):
        np.save(folder / f"{side}.lengths.npy", lengths)
        np.save(folder / f"00000.{side}.npy", np.zeros(int(lengths.sum()), np.uint16))
        np.save(folder / f"00000.{side}.offsets.npy", np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]))
    tracemalloc.start()
    pairs = MappedPairs(tmp_path, "train", {"shards": [n]})
    for by, size in (("sentences", 64), ("tokens", 2000)):
        plan = make_batches(pairs.source_lengths, pairs.target_lengths, size, by=by, seed=1, epoch=3)
        batch = pairs.take(plan[0])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert isinstance(pairs.source_lengths, np.memmap) and isinstance(pairs.shards[0][0], np.memmap)
    assert plan.order.dtype == np.int32 and len(batch) == len(plan[0])
    # A Python int in a list alone costs 36 bytes; the plan's index array 4 and its sort keys a few more.
    assert peak / n < 24, f"{peak / n:.1f} bytes per pair"


def test_the_cli_trains_from_data_and_refuses_data_with_files(corpus, tmp_path, capsys):
    from seq2seq.cli import main

    _, data = corpus
    assert main(["train", "--data", str(data), "--train", "x.tsv", "--out", str(tmp_path / "r")]) == 2
    assert "--data DIR holds every split" in capsys.readouterr().err
    assert main(["train", "--data", str(data), "--set", "data.tokenizer=char", "--out", str(tmp_path / "r")]) == 2
    assert "data.tokenizer:" in capsys.readouterr().err and not (tmp_path / "r" / "checkpoints").exists()
    source, _, splits = open_preprocessed(build_config(overrides={**SMALL}), data)
    assert len(splits["train"]) == 400 and len(source.vocab) > 10


def test_corpus_weights_shape_the_epochs_and_need_a_directory(tmp_path):
    from seq2seq.config import ConfigError
    from seq2seq.data.preprocess import corpus_list
    from seq2seq.training.loop import Trainer

    paths = [_corpus(tmp_path / "a.tsv", 50, 1), _corpus(tmp_path / "b.tsv", 150, 2)]
    valid = _corpus(tmp_path / "valid.tsv", 10, 3)
    base = build_config(preset="luong", overrides=SMALL)
    preprocess(base, {"train": corpus_list(paths), "valid": [("v", valid)]}, tmp_path / "data", progress=False)
    cfg = build_config(preset="luong", overrides={**SMALL, "data.preprocessed": str(tmp_path / "data"),
                                                  "data.corpus_weights": "a:0"})
    batches = Trainer(cfg, tmp_path / "run", quiet=True)._epoch_batches(0)
    drawn = np.concatenate(list(batches))
    assert len(drawn) == 200 and drawn.min() >= 50  # corpus a weighs 0: the epoch is b's, 200 draws of its 150
    text = build_config(preset="luong", overrides={**SMALL, "data.train": paths[0], "data.valid": valid,
                                                   "data.corpus_weights": "a:2"})
    with pytest.raises(ConfigError, match="data.corpus_weights weighs the training corpora of data.preprocessed"):
        Trainer(text, tmp_path / "run2", quiet=True)


@pytest.mark.slow
def test_two_torchrun_ranks_reading_the_directory_equal_one_process(corpus, tmp_path):
    import socket

    import torch
    from safetensors.torch import load_file

    _, data = corpus
    runs = {}
    for nproc in (1, 2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        launcher = [sys.executable, "-m", "seq2seq"] if nproc == 1 else \
            [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
             "--master_addr", "127.0.0.1", "--master_port", str(port), "-m", "seq2seq"]
        out = tmp_path / f"ranks-{nproc}"
        # No dropout: each rank draws its own masks, so only a run without it can equal one process.
        args = ["train", "--data", str(data), "--preset", "luong", "--epochs", "1", "--quiet", "--out", str(out),
                "--set", "model.dropout=0.0"]
        for key, value in SMALL.items():
            if key != "data.tokenizer":
                args += ["--set", f"{key}={value}"]
        done = subprocess.run(launcher + args, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert done.returncode == 0, done.stderr[-3000:]
        runs[nproc] = load_file(str(out / "checkpoints" / "last" / "model.safetensors"))
    for k in runs[1]:
        assert torch.allclose(runs[1][k], runs[2][k], atol=1e-5), k
