"""Shared fixtures: one torch thread per test, and small trained runs for the slow tests."""

import pytest
import torch

from seq2seq.cli import main

REVERSE = ["--task", "reverse", "--preset", "attention", "--epochs", "6", "--quiet",
           "--set", "data.train_size=3000", "--set", "data.valid_size=200", "--set", "data.test_size=50",
           "--set", "model.encoder_hidden=64", "--set", "model.decoder_hidden=64", "--set", "train.batch_size=32",
           "--set", "train.lr=0.005", "--set", "train.threads=1"]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tests run tiny networks: one torch thread is faster than several (much faster when other processes
    keep the other core busy), and results do not depend on the machine's core count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def reverse_run(tmp_path_factory):
    """A small attention model trained on the reverse task (about 95% exact match)."""
    out = tmp_path_factory.mktemp("reverse") / "run"
    assert main(["train", "--out", str(out)] + REVERSE) == 0
    return out


@pytest.fixture(scope="session")
def beam_run(tmp_path_factory):
    """A tiny reverse model (barely trained) whose run asks for beam search with two outputs by default:
    `--set decode.strategy=beam --set decode.nbest=2` at train time (only slow tests may use it)."""
    out = tmp_path_factory.mktemp("beam") / "run"
    args = ["train", "--out", str(out), "--task", "reverse", "--preset", "attention", "--epochs", "1", "--quiet",
            "--set", "data.train_size=300", "--set", "data.valid_size=20", "--set", "data.test_size=0",
            "--set", "model.embedding_size=8", "--set", "model.encoder_hidden=16",
            "--set", "model.decoder_hidden=16", "--set", "train.threads=1",
            "--set", "decode.strategy=beam", "--set", "decode.nbest=2"]
    assert main(args) == 0
    return out


@pytest.fixture(scope="session")
def transformer_run(tmp_path_factory):
    """A tiny Transformer (both sides, 2 heads) barely trained on the reverse task (only slow tests may use it)."""
    out = tmp_path_factory.mktemp("transformer") / "run"
    args = ["train", "--out", str(out), "--task", "reverse", "--preset", "transformer-tiny", "--epochs", "1",
            "--quiet", "--set", "data.train_size=300", "--set", "data.valid_size=20", "--set", "data.test_size=0",
            "--set", "model.embedding_size=16", "--set", "model.transformer_size=16",
            "--set", "model.transformer_heads=2", "--set", "model.transformer_ff_size=32", "--set", "train.threads=1"]
    assert main(args) == 0
    return out
