import pytest

from seq2seq.cli import main

REVERSE = ["--task", "reverse", "--preset", "attention", "--epochs", "6", "--quiet",
           "--set", "data.train_size=3000", "--set", "data.valid_size=200", "--set", "data.test_size=50",
           "--set", "model.encoder_hidden=64", "--set", "model.decoder_hidden=64", "--set", "train.batch_size=32",
           "--set", "train.lr=0.005", "--set", "train.threads=1"]


@pytest.fixture(scope="session")
def reverse_run(tmp_path_factory):
    """A small attention model trained on the reverse task (about 95% exact match)."""
    out = tmp_path_factory.mktemp("reverse") / "run"
    assert main(["train", "--out", str(out)] + REVERSE) == 0
    return out
