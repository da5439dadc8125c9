"""Shared fixtures: one torch thread per test, and small trained runs for the slow tests."""

import os
import tempfile

import pytest
import torch
from hypothesis import HealthCheck, settings

from seq2seq.cli import main

# Property tests draw their examples from a fixed seed (the suite stays deterministic) and keep no example
# database; each test sets its own number of examples (a few dozen in the fast tier, more in the slow one).
# No deadline: the bounds a property checks are counted in steps and bytes, not in seconds of a busy machine.
settings.register_profile("seq2seq", derandomize=True, database=None, deadline=None, print_blob=False,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile("seq2seq")

# Checkpoint versions found whole are remembered in a cache file (seq2seq.runs.checksums): the suite's, and its child
# processes', go to a scratch folder of their own, not the user's cache.
os.environ.setdefault("SEQ2SEQ_CACHE_DIR", tempfile.mkdtemp(prefix="seq2seq-test-cache-"))

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


# Tests that compare two separate runs bit for bit need the same kernels in both; a measured choice can differ
# between two starts on a busy machine. The probe's own tests (tests/kernels) take this away and measure.
os.environ.setdefault("SEQ2SEQ_KERNELS", "onednn")


@pytest.fixture(scope="session", autouse=True)
def _kernel_cache(tmp_path_factory):
    """The kernel probe's cache in a scratch directory, never the user's, shared by the session's tests."""
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def _kernel_plan():
    """Each test starts with the built-in kernel rules, whatever an earlier one's probe or forced mode chose."""
    from seq2seq.models import kernel_plan

    kernel_plan.reset()
    yield
    kernel_plan.reset()


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


def _tiny_bundle(preset=None, overrides=(), seed=0):
    """A tiny randomly initialised model (Bundle) of any preset and overrides, with sides that fit its config:
    characters `a`-`j` for tokens, 3-d normalised vectors for features."""
    import numpy as np

    from seq2seq import build_config
    from seq2seq.data.reversal import InputReversal
    from seq2seq.data.sides import FeatureSide, TokenSide
    from seq2seq.data.tokenizers import build_tokenizer
    from seq2seq.data.vocab import Vocab
    from seq2seq.runs.bundle import assemble

    shape = build_config(preset, None, list(overrides)).model
    sizes = ["model.embedding_size=8"]
    sizes += ["model.encoder_hidden=6"] if shape.encoder_type == "rnn" else []
    sizes += ["model.decoder_hidden=6"] if shape.decoder_type == "rnn" else []
    if "transformer" in (shape.encoder_type, shape.decoder_type):
        sizes += ["model.transformer_size=8", "model.transformer_heads=2", "model.transformer_ff_size=16"]
    cfg = build_config(preset, None, sizes + list(overrides))

    def side(kind, reversal):
        if kind == "tokens":
            return TokenSide(build_tokenizer("char"), Vocab.build([list("abcdefghij")]), reversal)
        return FeatureSide(3, np.array([0.5, -1.0, 2.0], np.float32), np.array([2.0, 0.5, 1.0], np.float32), reversal)

    torch.manual_seed(seed)
    return assemble(cfg, side(cfg.data.source_type, InputReversal(cfg.data.reverse_source)),
                    side(cfg.data.target_type, InputReversal()))


@pytest.fixture
def tiny_bundle():
    """Factory: `tiny_bundle(preset=None, overrides=(), seed=0)` -> a Bundle of a tiny random model."""
    return _tiny_bundle


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory):
    """A tiny random `luong` model (Bundle) and its export directory, made once per session."""
    from seq2seq.export import export_onnx

    bundle = _tiny_bundle("luong", ["model.decoder_hidden=12"])
    out = export_onnx(bundle, tmp_path_factory.mktemp("export") / "luong")
    return bundle, out


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


@pytest.fixture
def make_run(tmp_path):
    """A factory of run directories holding an untrained small char model (for fast tests of what loads runs):
    make_run(name, seed=0, steps=(1,), text="abcdefgh", **config overrides) -> the run directory, with one step
    checkpoint per step (different weights each), `last` and `best` at the last one."""
    from seq2seq import build_config
    from seq2seq.config import save
    from seq2seq.data.corpus import build_sides
    from seq2seq.runs.bundle import assemble
    from seq2seq.runs.checkpoint import write_checkpoint

    def make(name="run", seed=0, steps=(1,), text="abcdefgh", **overrides):
        cfg = build_config(overrides={"model.embedding_size": 8, "model.encoder_hidden": 16,
                                      "model.decoder_hidden": 16, "model.attention": "general",
                                      "model.bridge": "zero", "train.keep_checkpoints": len(steps), **overrides})
        source, target = build_sides(cfg, [(text, text[::-1])])
        out = tmp_path / name
        out.mkdir()
        save(cfg, out / "config.yaml")
        for i, step in enumerate(steps):
            torch.manual_seed(seed * 1000 + i)
            bundle = assemble(cfg, source, target)
            extra = {"step": step, "epoch": i}
            write_checkpoint(out, step, lambda d, b=bundle, e=extra: b.save_into(d, e), ("last", "best"),
                             keep=cfg.train.keep_checkpoints)
        return out
    return make
