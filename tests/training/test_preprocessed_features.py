"""Training on feature data (speech-like frames -> characters) from a `seq2seq preprocess` directory: the same run
as from the .npz files bit for bit, and a run killed mid-epoch resumes to the same weights."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import seq2seq
from seq2seq import build_config
from seq2seq.data.feature_files import write_npz
from seq2seq.data.preprocess import preprocess

SMALL = {"data.source_type": "features", "data.target_type": "tokens", "data.tokenizer": "char",
         "model.embedding_size": 8, "model.encoder_hidden": 16, "model.decoder_hidden": 16, "train.threads": 1,
         "train.batch_size": 8, "train.eval_every": 10, "data.reverse_source": True}


def _speech(path, n, seed):
    rng = np.random.default_rng(seed)
    words = ["ab", "ba", "abc", "cab", "b", "ca"]
    sources = [(rng.normal(size=(int(rng.integers(3, 14)), 4)) * [1, 3, 10, 30] + 2).astype(np.float32)
               for _ in range(n)]
    write_npz(path, sources, [" ".join(rng.choice(words, int(rng.integers(1, 3)))) for _ in range(n)])
    return str(path)


@pytest.fixture
def corpus(tmp_path):
    files = {"train": _speech(tmp_path / "train.npz", 200, 1), "valid": _speech(tmp_path / "valid.npz", 20, 2)}
    cfg = build_config(overrides=SMALL)
    preprocess(cfg, {split: [(split, path)] for split, path in files.items()}, tmp_path / "data", chunk_size=64,
               progress=False)
    return files, tmp_path / "data"


def _losses(run):
    return [(r["train_loss"], r["valid_loss"], r["valid_cer"])
            for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]


@pytest.mark.slow
def test_training_on_features_from_the_directory_equals_training_from_the_npz_files(corpus, tmp_path,
                                                                                    same_weights):
    files, data = corpus
    seq2seq.train(build_config(overrides={**SMALL, "train.epochs": 2, "data.train": files["train"],
                                          "data.valid": files["valid"]}), tmp_path / "npz", quiet=True)
    seq2seq.train(build_config(overrides={**SMALL, "train.epochs": 2, "data.preprocessed": str(data)}),
                  tmp_path / "mapped", quiet=True)
    assert _losses(tmp_path / "npz") == _losses(tmp_path / "mapped") and len(_losses(tmp_path / "npz")) >= 4
    same_weights(tmp_path / "npz", tmp_path / "mapped")


def _launch(data, out):
    args = [sys.executable, "-m", "seq2seq", "train", "--data", str(data), "--out", str(out), "--epochs", "3",
            "--quiet"]
    for key, value in SMALL.items():
        if key not in ("data.source_type", "data.target_type", "data.tokenizer"):  # the directory's settings
            args += ["--set", f"{key}={value}"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"})


@pytest.mark.slow
def test_a_feature_run_killed_mid_epoch_resumes_to_the_same_weights(corpus, tmp_path, killed_run_resumes_identically):
    _, data = corpus
    full, killed = killed_run_resumes_identically(lambda out: _launch(data, out), tmp_path)
    assert _losses(full)[-1] == _losses(killed)[-1]
