"""The training loop end to end: the run directory, metrics, eval reproducing validation, refusals, a non-finite
loss, and tasks that must actually be learned (keras-example, sine, tiny spoken digits)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import seq2seq
from seq2seq import build_config
from seq2seq.cli import main
from seq2seq.data.audio import espeak_available, synthesise, wav_to_fbank
from seq2seq.data.batching import collate
from seq2seq.data.feature_files import format_sequence, write_npz
from seq2seq.data.tasks import generate_splits, to_book_line
from seq2seq.models.coverage import coverage_loss
from seq2seq.models.seq2seq import Seq2Seq
from seq2seq.runs.bundle import load_bundle
from seq2seq.training import Trainer, TrainingError

pytestmark = pytest.mark.slow

METRICS = {"epoch", "step", "train_loss", "valid_loss", "valid_perplexity", "valid_token_accuracy",
           "valid_exact_match", "seconds", "train_tokens_per_second"}
FEATURES_SMALL = {"model.embedding_size": 32, "model.encoder_hidden": 64, "model.decoder_hidden": 64,
                  "train.batch_size": 32, "train.threads": 1, "train.schedule": "linear"}



def _metrics(run):
    return [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, train_args):
    out = tmp_path_factory.mktemp("runs") / "addition"
    assert main(train_args(out)) == 0
    return out


def test_train_writes_the_whole_run_directory(run_dir):
    assert (run_dir / "config.yaml").is_file()
    assert (run_dir / "test_metrics.json").is_file()
    for which in ("last", "best"):
        files = {p.name for p in (run_dir / "checkpoints" / which).iterdir()}
        assert {"model.safetensors", "model.json", "source.vocab.json", "target.vocab.json",
                "source.tokenizer.json", "target.tokenizer.json", "trainer.safetensors", "trainer.json"} <= files
    rows = _metrics(run_dir)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    for r in rows:
        assert METRICS <= set(r)
        for k in ("valid_token_accuracy", "valid_exact_match", "valid_unk_share"):
            assert 0.0 <= r[k] <= 1.0
    assert rows[-1]["valid_loss"] < rows[0]["valid_loss"]
    test = json.loads((run_dir / "test_metrics.json").read_text())
    assert set(test) == {"test_loss", "test_perplexity", "test_token_accuracy", "test_exact_match", "test_chrf",
                         "test_unk_share"}
    meta = json.loads((run_dir / "checkpoints" / "last" / "model.json").read_text())
    assert meta["format_version"] == 2 and meta["epoch"] == 3 and "source_size" in meta


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
    row = next(r for r in _metrics(run_dir) if r["step"] == best_step)
    assert result["exact_match"] == pytest.approx(row["valid_exact_match"])
    assert result["unk_share"] == pytest.approx(row["valid_unk_share"])
    assert result["loss"] == pytest.approx(row["valid_loss"], rel=1e-5)
    lines = (tmp_path / "p.tsv").read_text().splitlines()
    assert lines[0] == "source\treference\thypothesis" and len(lines) == len(valid) + 1


def test_refuses_to_overwrite_and_to_resume_nothing(run_dir, tmp_path, capsys, train_args):
    assert main(train_args(run_dir)) == 2
    assert "already holds a run; pass --resume" in capsys.readouterr().err
    assert main(train_args(tmp_path / "new", "--resume")) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_non_finite_loss_stops_with_last_checkpoint_intact(tmp_path, monkeypatch, small):
    cfg = build_config("baseline", overrides=small + ["data.task=reverse", "train.epochs=3"])
    trainer = Trainer(cfg, tmp_path / "run", quiet=True)
    calls = {"n": 0}
    original = Seq2Seq.loss

    def poisoned(self, scores, tgt_out, label_smoothing=0.0):
        loss, n = original(self, scores, tgt_out, label_smoothing)
        calls["n"] += 1
        return (loss * float("nan") if calls["n"] > trainer.steps_per_epoch else loss), n

    monkeypatch.setattr(Seq2Seq, "loss", poisoned)
    with pytest.raises(TrainingError, match=r"non-finite training loss at step \d+ \(epoch 2\)"):
        trainer.run()
    last = tmp_path / "run" / "checkpoints" / "last"
    assert json.loads((last / "model.json").read_text())["epoch"] == 1
    load_bundle(tmp_path / "run", "last")


def test_non_finite_loss_is_one_line_from_the_command_line(tmp_path, monkeypatch, capsys, train_args):
    original = Seq2Seq.loss
    monkeypatch.setattr(Seq2Seq, "loss", lambda *a, **k: (original(*a, **k)[0] * float("inf"), original(*a, **k)[1]))
    assert main(train_args(tmp_path / "run")) == 1
    err = capsys.readouterr().err
    assert err.startswith("seq2seq: error: non-finite training loss at step 1 (epoch 1); stopped.")
    assert len(err.splitlines()) == 1


def test_accumulation_and_eval_every_count_optimiser_steps(tmp_path, small):
    cfg = build_config("baseline", overrides=small + ["data.task=reverse", "train.epochs=2", "train.batch_size=50",
                                                      "train.accumulate=4", "train.eval_every=2",
                                                      "data.test_size=0"])
    trainer = Trainer(cfg, tmp_path, quiet=True)
    assert trainer.steps_per_epoch == 3  # 12 batches of 50, four per step
    trainer.run()
    rows = _metrics(tmp_path)
    assert [r["step"] for r in rows] == [2, 3, 4, 6]  # every 2 steps inside an epoch, and at each epoch's end
    assert [r["epoch"] for r in rows][1::2] == [1, 2] and not (tmp_path / "test_metrics.json").exists()


def test_early_stopping_ends_the_run(tmp_path, small):
    cfg = build_config("baseline", overrides=small + ["data.task=reverse", "train.epochs=20", "train.lr=0",
                                                      "train.patience=2", "data.test_size=0"])
    seq2seq.train(cfg, tmp_path, quiet=True)  # lr 0: nothing improves after the first evaluation
    assert [r["epoch"] for r in _metrics(tmp_path)] == [1, 2, 3]


# --- tasks that must be learned ---------------------------------------------------------------------------


def test_keras_example_learned_to_small_mae(tmp_path):
    splits = generate_splits("keras-example", 500, 50, 50, 1234)
    train_q = {s.tobytes() for s, _ in splits["train"]}
    assert not any(s.tobytes() in train_q for s, _ in splits["test"])  # held-out sequences
    run = tmp_path / "keras"
    cfg = build_config(overrides={"data.task": "keras-example", "train.epochs": 8, "train.lr": 0.003,
                                  "train.feature_loss": "l1", "model.attention": "general", **FEATURES_SMALL})
    seq2seq.train(cfg, run, quiet=True)
    test = json.loads((run / "test_metrics.json").read_text())
    assert test["test_mae"] < 0.05, test  # in the original units: the task's integers
    assert {"valid_loss", "valid_mae", "valid_rmse"} <= set(_metrics(run)[-1])
    model = seq2seq.load(run)
    out = model.predict([np.array([1.0, 2.0, 3.0]), "10 11 12 13"])
    assert out[0].shape == (3, 1) and np.abs(out[0][:, 0] - [2, 3, 4]).max() < 0.2
    assert np.abs(out[1][:, 0] - [11, 12, 13, 14]).max() < 0.2
    (tmp_path / "held.csv").write_text("".join(f"{format_sequence(s)},{format_sequence(t)}\n"
                                               for s, t in splits["test"][:20]))
    assert main(["eval", str(run), "--data", str(tmp_path / "held.csv")]) == 0
    assert (run / "predictions.tsv").read_text().startswith("source\treference\thypothesis\n")


def test_sine_forecast_beats_repeat_last_twice(tmp_path):
    run = tmp_path / "sine"
    cfg = build_config(overrides={"data.task": "sine", "train.epochs": 6, "train.lr": 0.005,
                                  "data.train_size": 2000, "data.valid_size": 100, "data.test_size": 200,
                                  **FEATURES_SMALL})
    seq2seq.train(cfg, run, quiet=True)
    test = generate_splits("sine", 2000, 100, 200, cfg.data.task_seed)["test"]
    baseline = np.sqrt(np.mean(np.concatenate([(t - s[-1:]).ravel() for s, t in test]) ** 2))
    rmse = json.loads((run / "test_metrics.json").read_text())["test_rmse"]
    assert rmse * 2 < baseline, (rmse, baseline)
    forecasts = seq2seq.load(run).predict([s for s, _ in test[:5]])
    assert all(f.shape == (10, 1) for f in forecasts)


# Small sizes of each speech preset's sides, and its learning rate for 20 epochs of 48 utterances.
SPEECH = {"las": {"model.encoder_hidden": 32, "model.decoder_hidden": 32, "train.lr": 0.005},
          "speech-transformer": {"model.transformer_size": 32, "model.transformer_ff_size": 64,
                                 "model.encoder_layers": 2, "train.warmup_steps": 30, "train.lr": 0.005}}


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed (CI installs it)")
@pytest.mark.parametrize("preset", list(SPEECH))
def test_tiny_spoken_digits(preset, tmp_path):
    words = ["zero", "one", "two", "three"]
    voices = ["en-us", "en-gb"]
    feats, texts = [], []
    for i in range(56):
        digits = f"{i % 4}{(i // 4) % 4}"[: 1 + i % 2]
        synthesise(" ".join(words[int(d)] for d in digits), tmp_path / "u.wav", voices[i % 2], 140 + 10 * (i % 3))
        feats.append(wav_to_fbank(tmp_path / "u.wav"))
        texts.append(digits)
    write_npz(tmp_path / "train.npz", feats[:48], texts[:48])
    write_npz(tmp_path / "valid.npz", feats[48:], texts[48:])
    run = tmp_path / preset
    cfg = build_config(preset, overrides={"data.train": str(tmp_path / "train.npz"),
                                          "data.valid": str(tmp_path / "valid.npz"), "train.epochs": 20,
                                          "train.batch_size": 8, "train.threads": 1, "model.embedding_size": 16,
                                          **SPEECH[preset]})
    seq2seq.train(cfg, run, quiet=True)
    rows = _metrics(run)
    last = rows[-1]
    assert "valid_exact_match" in last and rows[-1]["valid_loss"] < rows[0]["valid_loss"]
    # Saying nothing scores a CER of 1.0 (every reference character missing); the encoder must do better.
    assert min(r["valid_cer"] for r in rows) < 0.75, [r["valid_cer"] for r in rows]
    model = seq2seq.load(run)
    assert all(isinstance(t, str) for t in model.predict(feats[48:], beam=2))
    assert (run / "checkpoints" / "best" / "source.features.safetensors").is_file()


def test_the_coverage_loss_joins_the_training_loss(tmp_path):
    overrides = {"data.task": "reverse", "data.train_size": 40, "data.valid_size": 5, "data.test_size": 0,
                 "model.embedding_size": 8, "model.encoder_hidden": 16, "model.decoder_hidden": 16,
                 "model.attention": "general", "train.batch_size": 8, "train.threads": 1}
    losses = []
    for weight in (0.0, 2.0):
        trainer = Trainer(build_config(overrides={**overrides, "train.coverage_loss": weight}), tmp_path / str(weight),
                          quiet=True)
        batch = trainer._epoch_batches(0)[0]
        if weight:
            pairs = collate([trainer.train_ids[i] for i in batch], trainer.bundle.source, trainer.bundle.target)
            with torch.no_grad():
                out = trainer.model(pairs.src, pairs.src_lengths, pairs.tgt_in)
            expected = weight * float(coverage_loss(out.attention, pairs.tgt_lengths))
        losses.append(trainer._update([batch])[0])
    # the same initial weights and batch (no dropout): the runs differ by the weighted coverage loss
    assert expected > 0 and losses[1] - losses[0] == pytest.approx(expected, rel=1e-4)
