import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from seq2seq.bundle import load_bundle
from seq2seq.checkpoint import CheckpointError
from seq2seq.cli import main
from seq2seq.config import build_config
from seq2seq.data.tasks import generate_splits, to_book_line
from seq2seq.models.seq2seq import Seq2Seq
from seq2seq.training import Trainer, TrainingError

SMALL = ["data.train_size=600", "data.valid_size=100", "data.test_size=50", "model.embedding_size=16",
         "model.encoder_hidden=64", "model.decoder_hidden=64", "train.threads=1"]
METRICS = {"epoch", "step", "train_loss", "valid_loss", "valid_perplexity", "valid_token_accuracy",
           "valid_exact_match", "seconds", "train_tokens_per_second"}


def _train_args(out, *extra):
    args = ["train", "--task", "addition", "--preset", "reverse-peeky", "--epochs", "3", "--out", str(out),
            "--quiet"]
    for s in SMALL:
        args += ["--set", s]
    return args + list(extra)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "addition"
    assert main(_train_args(out)) == 0
    return out


def test_train_writes_the_whole_run_directory(run_dir):
    assert (run_dir / "config.yaml").is_file()
    assert (run_dir / "test_metrics.json").is_file()
    for which in ("last", "best"):
        files = {p.name for p in (run_dir / "checkpoints" / which).iterdir()}
        assert {"model.safetensors", "model.json", "source.vocab.json", "target.vocab.json",
                "source.tokenizer.json", "target.tokenizer.json", "trainer.safetensors", "trainer.json"} <= files
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    for r in rows:
        assert METRICS <= set(r)
        for k in ("valid_token_accuracy", "valid_exact_match"):
            assert 0.0 <= r[k] <= 1.0
    assert rows[-1]["valid_loss"] < rows[0]["valid_loss"]


def test_eval_reproduces_the_best_checkpoints_validation_metrics(run_dir, tmp_path, capsys):
    cfg = build_config(yaml_file=run_dir / "config.yaml")
    d = cfg.data
    valid = generate_splits("addition", d.train_size, d.valid_size, d.test_size, d.task_seed)["valid"]
    data = tmp_path / "valid.txt"
    data.write_text("".join(to_book_line("addition", p) + "\n" for p in valid))
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--data", str(data), "--predictions", str(tmp_path / "p.tsv")]) == 0
    result = json.loads(capsys.readouterr().out)
    best_step = json.loads((run_dir / "checkpoints" / "best" / "model.json").read_text())["step"]
    row = next(json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()
               if json.loads(x)["step"] == best_step)
    assert result["exact_match"] == pytest.approx(row["valid_exact_match"])
    assert result["loss"] == pytest.approx(row["valid_loss"], rel=1e-5)
    lines = (tmp_path / "p.tsv").read_text().splitlines()
    assert lines[0] == "source\treference\thypothesis" and len(lines) == len(valid) + 1


def test_refuses_to_overwrite_and_to_resume_nothing(run_dir, tmp_path, capsys):
    assert main(_train_args(run_dir)) == 2
    assert "already holds a run; pass --resume" in capsys.readouterr().err
    assert main(_train_args(tmp_path / "new", "--resume")) == 2
    assert "nothing to resume" in capsys.readouterr().err


def _copy_run(src: Path, dst: Path) -> Path:
    import shutil
    shutil.copytree(src, dst, symlinks=True)
    return dst


def test_bad_run_directories_are_named(run_dir, tmp_path):
    with pytest.raises(CheckpointError, match="not a run directory"):
        load_bundle(tmp_path)
    run = _copy_run(run_dir, tmp_path / "truncated")
    weights = run / "checkpoints" / "best" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"best/model.safetensors: corrupted or truncated"):
        load_bundle(run)
    run = _copy_run(run_dir, tmp_path / "vocab")
    vocab = run / "checkpoints" / "best" / "target.vocab.json"
    data = json.loads(vocab.read_text())
    data["tokens"].append("extra")
    vocab.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="target vocabulary has .* the vocab does not match the weights"):
        load_bundle(run)
    run = _copy_run(run_dir, tmp_path / "newer")
    meta_path = run / "checkpoints" / "best" / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["format_version"] = 99
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"model.json: checkpoint format version 99 is newer"):
        load_bundle(run)


def test_non_finite_loss_stops_with_last_checkpoint_intact(tmp_path, monkeypatch):
    cfg = build_config("baseline", overrides=SMALL + ["data.task=reverse", "train.epochs=3"])
    trainer = Trainer(cfg, tmp_path / "run", quiet=True)
    calls = {"n": 0}
    original = Seq2Seq.loss

    def poisoned(logits, tgt_out, label_smoothing=0.0):
        loss, n = original(logits, tgt_out, label_smoothing)
        calls["n"] += 1
        return (loss * float("nan") if calls["n"] > trainer.steps_per_epoch else loss), n

    monkeypatch.setattr(Seq2Seq, "loss", staticmethod(poisoned))
    with pytest.raises(TrainingError, match=r"non-finite training loss at step \d+ \(epoch 2\)"):
        trainer.run()
    last = tmp_path / "run" / "checkpoints" / "last"
    assert json.loads((last / "model.json").read_text())["epoch"] == 1
    load_bundle(tmp_path / "run", "last")


def _launch(out: Path) -> subprocess.Popen:
    args = [sys.executable, "-m", "seq2seq"] + _train_args(out) + [
        "--set", "train.eval_every=5", "--set", "train.epochs=4", "--set", "train.batch_size=32"]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def test_killed_run_resumes_to_identical_weights(tmp_path):
    full = _launch(tmp_path / "full")
    assert full.wait(timeout=300) == 0, full.stderr.read().decode()
    killed = _launch(tmp_path / "killed")
    metrics = tmp_path / "killed" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 2 and killed.poll() is None:
            break
        time.sleep(0.02)
    assert killed.poll() is None, "the run ended before it could be killed"
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    resumed = subprocess.run([sys.executable, "-m", "seq2seq", "train", "--out", str(tmp_path / "killed"),
                              "--resume", "--quiet"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    a = load_file(str(tmp_path / "full" / "checkpoints" / "last" / "model.safetensors"))
    b = load_file(str(tmp_path / "killed" / "checkpoints" / "last" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    steps = [json.loads(x)["step"] for x in metrics.read_text().splitlines()]
    assert steps == sorted(set(steps))
