"""Command lines of the small addition runs the training tests launch."""

import pytest

SMALL = ["data.train_size=600", "data.valid_size=100", "data.test_size=50", "model.embedding_size=16",
         "model.encoder_hidden=64", "model.decoder_hidden=64", "train.threads=1"]


@pytest.fixture(scope="session")
def small():
    """Overrides that make a run small enough for a test."""
    return list(SMALL)


@pytest.fixture(scope="session")
def train_args():
    """`seq2seq train` arguments of a 3-epoch reverse-peeky run on small addition data into `out`."""
    def make(out, *extra):
        args = ["train", "--task", "addition", "--preset", "reverse-peeky", "--epochs", "3", "--out", str(out),
                "--quiet"]
        for s in SMALL:
            args += ["--set", s]
        return args + list(extra)
    return make
