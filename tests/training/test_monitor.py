"""What a person watching a run sees: progress lines every N steps or seconds (no terminal), the tracked
metric in every line, one line per evaluation, and logging that reaches stderr when nobody set it up."""

import logging

import pytest
import torch

from seq2seq import build_config
from seq2seq.training import monitor as monitor_module
from seq2seq.training.monitor import Monitor, visible_logging
from seq2seq.training.schedule import Progress


def _steps(mon, p, n, batches=10):
    for _ in range(n):
        p.step += 1
        p.batch_in_epoch += 1
        p.seconds += 0.5
        mon.step(p, batches, loss=20.0, n_tgt=10, n_all=30, seconds=0.5, lr=2e-3, size=1)


def _lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "seq2seq"]


def test_progress_line_every_n_steps_names_the_tracked_metric(tmp_path, caplog):
    cfg = build_config("las", overrides={"train.log_every": 2, "train.log_seconds": 0, "train.epochs": 3})
    mon, p = Monitor(cfg, tmp_path, show=True, main=True, resumed_at=None), Progress()
    with caplog.at_level(logging.INFO, logger="seq2seq"):
        _steps(mon, p, 5)
    lines = _lines(caplog)
    assert len(lines) == 2
    assert lines[0] == ("epoch 1/3 batch 2/10 step 2 | train loss 2.0000 | lr 0.002 | 60 tok/s | best valid_cer - | "
                        "1s trained, epoch ends in ~4s")
    assert lines[1].startswith("epoch 1/3 batch 4/10 step 4 | train loss 2.0000")
    caplog.clear()
    record = {"epoch": 0.5, "step": 5, "train_loss": 2.0, "valid_loss": 0.5, "valid_perplexity": 1.65,
              "valid_token_accuracy": 0.9, "valid_exact_match": 0.8, "valid_chrf": 90.0, "valid_cer": 0.05,
              "seconds": 2.5, "eval_seconds": 1.2, "train_tokens_per_second": 60.0}
    with caplog.at_level(logging.INFO, logger="seq2seq"):
        mon.evaluated(record, p, p.record(record, cfg.train), lambda board: pytest.fail("no TensorBoard asked"))
        _steps(mon, p, 1)
        worse = {**record, "step": 6, "valid_cer": 0.07}
        mon.evaluated(worse, p, p.record(worse, cfg.train), lambda board: None)
    lines = _lines(caplog)
    assert lines[0] == ("epoch 0.50 step 5 | train loss 2.0000 | valid loss 0.5000 ppl 1.65 acc 0.9000 exact 0.8000 "
                        "chrf 90.00 cer 0.0500 | valid_cer 0.0500 (new best) | 60 tok/s | train 2s, eval 1s")
    assert "| best valid_cer 0.0500 |" in lines[1]
    assert "| valid_cer 0.0700 (best 0.0500, no gain for 1) |" in lines[2]


def test_progress_line_every_n_seconds(tmp_path, caplog, monkeypatch):
    now = [100.0]
    monkeypatch.setattr(monitor_module.time, "monotonic", lambda: now[0])
    cfg = build_config(overrides={"data.task": "date", "train.log_seconds": 30})
    mon, p = Monitor(cfg, tmp_path, show=True, main=True, resumed_at=None), Progress()
    with caplog.at_level(logging.INFO, logger="seq2seq"):
        for advance in (10, 10, 15, 5, 24, 6):
            now[0] += advance
            _steps(mon, p, 1)
    assert [line.split(" | ")[0] for line in _lines(caplog)] == ["epoch 1/10 batch 3/10 step 3",
                                                                  "epoch 1/10 batch 6/10 step 6"]
    assert "best valid_loss -" in _lines(caplog)[0]


@pytest.mark.parametrize("show, main", [(False, True), (True, False)])
def test_quiet_runs_and_other_ranks_print_nothing(tmp_path, caplog, show, main):
    cfg = build_config(overrides={"data.task": "date", "train.log_every": 1})
    mon, p = Monitor(cfg, tmp_path, show=show, main=main, resumed_at=None), Progress()
    with caplog.at_level(logging.INFO, logger="seq2seq"):
        mon.banner(torch.nn.Linear(2, 2), None, None, {"train": 1, "valid": 1, "test": 0}, 1, torch.device("cpu"), 1)
        _steps(mon, p, 3)
    assert _lines(caplog) == []


def test_banner_says_what_trains_on_what(tmp_path, caplog):
    from seq2seq.data.sides import FeatureSide, TokenSide
    from seq2seq.data.tokenizers import build_tokenizer
    from seq2seq.data.vocab import Vocab

    cfg = build_config("las", overrides={"train.patience": 4})
    tok = build_tokenizer("char")
    target = TokenSide(tok, Vocab.build([list("0123456789")]))
    mon = Monitor(cfg, tmp_path, show=True, main=True, resumed_at=None)
    with caplog.at_level(logging.INFO, logger="seq2seq"):
        mon.banner(torch.nn.Linear(3, 4), FeatureSide(13), target, {"train": 12000, "valid": 300, "test": 500}, 375,
                   torch.device("cpu"), 1)
    lines = _lines(caplog)
    assert lines[0] == "model: las, 16 parameters | source features (dimensions 13) -> target tokens (vocabulary 14)"
    assert lines[1] == "data: 12,000 training pairs (375 batches/epoch of 128 sentences), 300 validation, 500 test"
    assert lines[2].startswith(f"device cpu, {torch.get_num_threads()} thread(s), 1 process(es), fp32 | 10 epochs, "
                               f"lr 0.001 (constant), early stopping (patience 4) on valid_cer")


def test_visible_logging_reaches_stderr_only_when_nothing_is_set_up(monkeypatch, capsys):
    log = logging.getLogger("seq2seq")
    monkeypatch.setattr(logging.root, "handlers", [])
    monkeypatch.setattr(log, "handlers", [])
    level = log.level
    with visible_logging(True):
        log.info("progress")
    log.info("after")
    assert capsys.readouterr().err == "progress\n"
    assert log.handlers == [] and log.level == level
    with visible_logging(False):
        log.warning("quiet run")  # the last-resort handler still shows warnings
    assert "quiet run" in capsys.readouterr().err
    mine = logging.StreamHandler()
    monkeypatch.setattr(logging.root, "handlers", [mine])
    with visible_logging(True):
        assert log.handlers == []  # the caller's own configuration decides


RUN = ["--task", "date", "--preset", "attention", "--epochs", "2", "--set", "data.train_size=320",
       "--set", "data.valid_size=20", "--set", "data.test_size=0", "--set", "model.embedding_size=8",
       "--set", "model.encoder_hidden=16", "--set", "model.decoder_hidden=16", "--set", "train.batch_size=32",
       "--set", "train.threads=1", "--set", "train.log_every=4"]


@pytest.mark.slow
def test_a_logged_run_shows_banner_progress_and_evaluations_and_writes_tensorboard(tmp_path):
    import subprocess
    import sys

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    # stderr is a pipe, as under nohup or CI: progress comes as lines, not a bar.
    done = subprocess.run([sys.executable, "-m", "seq2seq", "train", "--out", str(run), *RUN,
                           "--set", "train.tensorboard=true"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith("model: attention, ") and lines[1].startswith("data: 320 training pairs (10 batches")
    progress = [ln for ln in lines if ln.startswith("epoch ") and " batch " in ln]
    evaluations = [ln for ln in lines if ln.startswith(("epoch 1.00 ", "epoch 2.00 "))]
    assert [ln.split(" | ")[0] for ln in progress] == ["epoch 1/2 batch 4/10 step 4", "epoch 1/2 batch 8/10 step 8",
                                                        "epoch 2/2 batch 2/10 step 12", "epoch 2/2 batch 6/10 step 16",
                                                        "epoch 2/2 batch 10/10 step 20"]
    assert lines.index(progress[0]) < lines.index(evaluations[0]) < lines.index(progress[2])
    assert all("| valid_loss " in ln for ln in evaluations) and "best valid_loss -" in progress[0]
    events = EventAccumulator(str(run), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [4, 8, 12, 16, 20]
    assert [e.step for e in events.Scalars("valid/exact_match")] == [10, 20]
    assert [e.step for e in events.Images("attention/valid_0")] == [10, 20]


@pytest.mark.slow
def test_train_from_python_shows_progress_without_any_logging_set_up(tmp_path):
    import subprocess
    import sys

    script = ("import sys, seq2seq\n"
              "overrides = dict(a.split('=', 1) for a in sys.argv[2:])\n"
              "seq2seq.train(seq2seq.build_config('attention', overrides=overrides), sys.argv[1])\n")
    sets = [RUN[i + 1] for i in range(len(RUN)) if RUN[i] == "--set"]
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "run"), "data.task=date", "train.epochs=1",
                           *sets], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith("model: attention, ")
    assert [ln.split(" | ")[0] for ln in lines if " batch " in ln] == ["epoch 1/1 batch 4/10 step 4",
                                                                      "epoch 1/1 batch 8/10 step 8"]
    assert any(ln.startswith("epoch 1.00 step 10 | ") for ln in lines)


def test_on_a_terminal_a_bar_replaces_the_lines_and_shows_the_tracked_metric(tmp_path, caplog, capsys, monkeypatch):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    cfg = build_config("las", overrides={"train.log_every": 1, "train.epochs": 3})
    mon, p = Monitor(cfg, tmp_path, show=True, main=True, resumed_at=None), Progress()
    with caplog.at_level(logging.INFO, logger="seq2seq"):
        mon.start_epoch(0, 10, 0)
        _steps(mon, p, 3)
        mon.end_epoch()
    assert _lines(caplog) == [] and mon.bar is None
    bar = capsys.readouterr().err
    assert "epoch 1/3" in bar and "3/10" in bar and "valid_cer=-" in bar and "loss=2.000" in bar
