import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from seq2seq import build_config
from seq2seq.training import Trainer
from seq2seq.training.distributed import World, shard, thread_count

ARGS = ["train", "--task", "reverse", "--preset", "attention", "--quiet", "--batch-size", "16",
        "--set", "data.train_size=160", "--set", "data.valid_size=32", "--set", "data.test_size=0",
        "--set", "model.embedding_size=8", "--set", "model.encoder_hidden=16", "--set", "model.decoder_hidden=16",
        "--set", "train.threads=1", "--set", "model.dropout=0.1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cmd(out, nproc, *extra, args=ARGS):
    if nproc == 1:
        return [sys.executable, "-m", "seq2seq", *args, "--out", str(out), *extra]
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(nproc),
            "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "-m", "seq2seq", *args,
            "--out", str(out), *extra]


def _run(out, nproc, *extra, args=ARGS):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(_cmd(out, nproc, *extra, args=args), capture_output=True, text=True, timeout=300,
                            env=env)
    assert result.returncode == 0, result.stderr[-3000:]


def _weights(out):
    return load_file(str(out / "checkpoints" / "last" / "model.safetensors"))


@pytest.mark.slow
def test_two_processes_equal_one_with_the_same_global_batch(tmp_path):
    _run(tmp_path / "one", 1, "--epochs", "2", "--set", "model.dropout=0.0")
    _run(tmp_path / "two", 2, "--epochs", "2", "--set", "model.dropout=0.0")
    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k
    rows = [json.loads(x) for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20]
    ones = [json.loads(x) for x in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["train_loss"] == pytest.approx(ones[-1]["train_loss"], rel=1e-4)


# The Transformer and the two hybrids, small: (preset, overrides).
TRANSFORMER_ARGS = ["train", "--task", "reverse", "--preset", "transformer-tiny", "--quiet", "--batch-size", "16",
                    "--set", "data.train_size=160", "--set", "data.valid_size=32", "--set", "data.test_size=0",
                    "--set", "model.embedding_size=16", "--set", "model.transformer_size=16",
                    "--set", "model.transformer_heads=2", "--set", "model.transformer_ff_size=32",
                    "--set", "train.threads=1"]
HYBRIDS = {"transformer": [],
           "transformer-encoder+rnn-decoder": ["--set", "model.decoder_type=rnn", "--set", "model.bridge=linear",
                                               "--set", "model.attention=general", "--set", "model.decoder_hidden=16"],
           "rnn-encoder+transformer-decoder": ["--set", "model.encoder_type=rnn", "--set", "model.encoder_hidden=16",
                                               "--set", "model.bidirectional=true"]}


@pytest.mark.slow
@pytest.mark.parametrize("architecture", list(HYBRIDS))
def test_two_processes_equal_one_for_transformer_sides(architecture, tmp_path):
    args = TRANSFORMER_ARGS + HYBRIDS[architecture]
    _run(tmp_path / "one", 1, "--epochs", "2", args=args)
    _run(tmp_path / "two", 2, "--epochs", "2", args=args)
    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k


@pytest.mark.slow
def test_distributed_run_killed_and_resumed_matches_uninterrupted(tmp_path):
    extra = ("--epochs", "3", "--set", "train.eval_every=4")
    _run(tmp_path / "full", 2, *extra)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(_cmd(tmp_path / "killed", 2, *extra), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    metrics = tmp_path / "killed" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    _run(tmp_path / "killed", 2, "--resume")
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "killed")
    for k in a:
        assert torch.equal(a[k], b[k]), k


def _bf16_run(tmp_path, monkeypatch, supported: bool | None):
    """Train briefly under bf16 autocast; returns the losses and the dtypes seen at the output layer and
    coming out of the encoder's LSTM. supported=None: this CPU as it is; True/False: the probe forced."""
    from seq2seq.models import precision

    if supported is not None:
        monkeypatch.setattr(precision, "cpu_bf16_lstm_supported", lambda: supported)
    cfg = build_config("attention", overrides={
        "data.task": "reverse", "data.train_size": 256, "data.valid_size": 32, "data.test_size": 0,
        "model.encoder_hidden": 32, "model.decoder_hidden": 32, "train.precision": "bf16", "train.epochs": 4,
        "train.batch_size": 32, "train.lr": 0.01, "train.threads": 1})
    trainer = Trainer(cfg, tmp_path, quiet=True)
    seen: dict[str, set] = {"out": set(), "lstm": set()}
    trainer.model.decoder.head.output.register_forward_hook(lambda m, i, o: seen["out"].add(o.dtype))
    trainer.model.encoder.rnn.layers[0].register_forward_hook(
        lambda m, i, o: seen["lstm"].add(getattr(o[0], "data", o[0]).dtype))
    trainer.run()
    losses = [json.loads(x)["train_loss"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    return losses, seen


@pytest.mark.slow
def test_bf16_training_on_cpu_runs_autocast_on_this_machine(tmp_path, monkeypatch):
    from seq2seq.models.precision import cpu_bf16_lstm_supported

    losses, seen = _bf16_run(tmp_path, monkeypatch, None)
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
    assert torch.bfloat16 in seen["out"], "the output layer did not run under bf16 autocast"
    # A CPU with bf16 LSTM kernels runs the LSTM in bf16; one without keeps it in fp32.
    want = torch.bfloat16 if cpu_bf16_lstm_supported() else torch.float32
    assert want in seen["lstm"]


@pytest.mark.slow
def test_bf16_on_a_cpu_without_bf16_lstm_keeps_the_lstm_in_fp32(tmp_path, monkeypatch):
    losses, seen = _bf16_run(tmp_path, monkeypatch, False)
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
    assert seen["lstm"] == {torch.float32} and torch.bfloat16 in seen["out"]


def test_threads_default_shares_the_cores_among_a_hosts_processes(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert thread_count(0) == 16
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert thread_count(0) == 4 and thread_count(3) == 3
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "32")
    assert thread_count(0) == 1


def test_each_rank_takes_every_nth_example_of_a_global_batch():
    batch = list(range(7))
    assert shard(batch, World()) == batch
    parts = [shard(batch, World(rank=r, size=3)) for r in range(3)]
    assert parts == [[0, 3, 6], [1, 4], [2, 5]]
    assert sorted(i for p in parts for i in p) == batch
    assert World(rank=1, size=2).distributed and not World(rank=1, size=2).is_main and World().is_main


def test_threads_default_counts_only_the_cores_this_process_may_use(monkeypatch):
    """Pinned with taskset to one core of 16, one thread: two threads on one core slow LSTMs sharply."""
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert thread_count(0) == 1
