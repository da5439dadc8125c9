"""Command lines of the small addition runs the training tests launch, and one such run trained straight through
(what a killed, interrupted or resumed run must end up identical to)."""

import os
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

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


# eval_every 5 puts checkpoints inside epochs: a stop between two of them has work to lose or to keep.
LAUNCH = ["--set", "train.eval_every=5", "--set", "train.epochs=4", "--set", "train.batch_size=32"]


@pytest.fixture(scope="session")
def launch(train_args):
    """Start `seq2seq train` of the small run into `out` as a process of its own (stderr piped)."""
    def start(out, *extra):
        args = [sys.executable, "-m", "seq2seq"] + train_args(out) + LAUNCH + list(extra)
        return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env={**os.environ, "PYTHONHASHSEED": "0"})
    return start


@pytest.fixture(scope="session")
def full_run(tmp_path_factory, launch):
    """The small run trained without interruption."""
    out = tmp_path_factory.mktemp("full") / "run"
    process = launch(out)
    assert process.wait(timeout=300) == 0, process.stderr.read().decode()
    return out


@pytest.fixture(scope="session")
def wait_for_evaluations():
    """wait(process, run, count): until `run` logged `count` evaluations while `process` still runs."""
    def wait(process, run, count):
        metrics = run / "metrics.jsonl"
        deadline = time.time() + 120
        while time.time() < deadline:
            if metrics.exists() and len(metrics.read_text().splitlines()) >= count and process.poll() is None:
                return
            time.sleep(0.02)
        assert process.poll() is None, "the run ended before it could be stopped"
    return wait


@pytest.fixture(scope="session")
def same_weights():
    """check(a, b): the last checkpoints of two runs hold bit-identical weights."""
    def check(a, b):
        x = load_file(str(a / "checkpoints" / "last" / "model.safetensors"))
        y = load_file(str(b / "checkpoints" / "last" / "model.safetensors"))
        assert x.keys() == y.keys()
        for k in x:
            assert torch.equal(x[k], y[k]), k
    return check


@pytest.fixture(scope="session")
def killed_run_resumes_identically(wait_for_evaluations, same_weights):
    """`check(start, where)`: `start(out)` starts a `seq2seq train` into `out`. The run is trained straight through
    into `where/full`, and again into `where/killed`, SIGKILLed once it has logged four evaluations (no checkpoint on
    the way out) and resumed to its end; both must end with bit-identical weights. Returns the two run directories."""
    import signal

    def check(start, where):
        full, killed = where / "full", where / "killed"
        process = start(full)
        assert process.wait(timeout=300) == 0, process.stderr.read().decode()
        process = start(killed)
        wait_for_evaluations(process, killed, 4)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        resumed = subprocess.run([sys.executable, "-m", "seq2seq", "train", "--out", str(killed), "--resume",
                                  "--quiet"], capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        same_weights(full, killed)
        return full, killed
    return check
