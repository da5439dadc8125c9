"""Resuming a run: loop settings given on the command line (or edited into config.yaml) take effect and are
recorded; settings the checkpoint depends on are refused naming the key and both values."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from seq2seq import build_config
from seq2seq.cli import main
from seq2seq.config import ConfigError
from seq2seq.runs.checkpoint import CheckpointError
from seq2seq.training.resume import RESUMABLE, can_change_on_resume, check_resume, resume_config, run_config

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "v1" / "tokens"


def test_loop_settings_may_change_and_the_rest_is_refused_naming_both_values():
    saved = build_config(overrides={"data.task": "reverse", "train.epochs": 10})
    loop = build_config(base=saved, overrides=["train.epochs=20", "train.lr=1e-4", "train.patience=3",
                                               "decode.beam_size=3", "train.device=cpu"])
    assert check_resume(saved, loop) == ["train.epochs: 10 -> 20", "train.lr: 0.001 -> 0.0001",
                                         "train.patience: 0 -> 3", "train.device: 'auto' -> 'cpu'",
                                         "decode.beam_size: 5 -> 3"]
    assert check_resume(saved, saved) == []
    for key, value, shown in (("model.embedding_size", 128, "256, asked for 128"),
                              ("data.tokenizer", "word", "'char', asked for 'word'"),
                              ("train.batch_size", 7, "128, asked for 7"),
                              ("train.seed", 9, "1, asked for 9"),
                              ("data.task", "date", "'reverse', asked for 'date'")):
        with pytest.raises(ConfigError, match=rf"^--resume cannot change {key} \(the run has {shown}\)"):
            check_resume(saved, build_config(base=saved, overrides={key: value}))
    assert all(can_change_on_resume(k) for k in RESUMABLE) and can_change_on_resume("decode.strategy")
    watched = build_config(base=saved, overrides=["train.tensorboard=true", "train.log_every=50"])
    assert check_resume(saved, watched) == ["train.tensorboard: False -> True", "train.log_every: 0 -> 50"]
    assert not can_change_on_resume("model.attention") and not can_change_on_resume("train.accumulate")


def _copy(tmp_path):
    return shutil.copytree(V1, tmp_path / "run", symlinks=True)


def test_an_edited_config_yaml_is_checked_against_the_checkpoint(tmp_path):
    run = _copy(tmp_path)
    assert resume_config(run, None)[0].to_dict() == run_config(run).to_dict()
    saved = yaml.safe_load((run / "config.yaml").read_text())
    saved["train"]["epochs"] = 9
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    assert resume_config(run, None)[0].train.epochs == 9
    saved["model"]["decoder_hidden"] = 32
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    with pytest.raises(ConfigError, match=r"--resume cannot change model.decoder_hidden \(the run has 16, asked "
                                          r"for 32\)"):
        resume_config(run, None)


def test_nothing_to_resume_is_named_and_a_run_without_checkpoint_starts_again(tmp_path, caplog, capsys):
    with pytest.raises(CheckpointError, match="nothing to resume"):
        run_config(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["train", "--out", str(tmp_path), "--resume", "--quiet"]) == 2
    assert capsys.readouterr().err == (f"seq2seq: error: {tmp_path}: nothing to resume (no config.yaml); start "
                                       f"without --resume\n")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]  # not even a lock file in a folder not a run
    with pytest.raises(CheckpointError, match="nothing to resume"):
        resume_config(tmp_path, None)
    run = _copy(tmp_path)
    for link in ("last", "best"):
        (run / "checkpoints" / link).unlink()
    caplog.set_level("INFO", logger="seq2seq")
    cfg, resuming = resume_config(run, None)
    assert not resuming and cfg.to_dict() == run_config(run).to_dict()
    assert caplog.messages == [f"{run}: no checkpoint yet (the run stopped before its first); starting it from the "
                               f"beginning with its saved configuration"]


# --- through the command line (trains) ---------------------------------------------------------------------


def _epochs(run):
    return [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_resume_with_more_epochs_goes_on_records_it_and_refuses_the_architecture(tmp_path, train_args, capsys,
                                                                                caplog):
    straight = tmp_path / "straight"
    assert main(train_args(straight, "--epochs", "3")) == 0
    run = tmp_path / "run"
    assert main(train_args(run, "--epochs", "2")) == 0
    assert main(train_args(run, "--epochs", "2", "--resume")) == 0  # nothing changed, nothing to do
    assert _epochs(run) == [1, 2]
    before = sorted(p.name for p in (run / "checkpoints").iterdir())
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--resume", "--set", "model.embedding_size=32"]) == 2
    err = capsys.readouterr().err
    assert err == ("seq2seq: error: --resume cannot change model.embedding_size (the run has 16, asked for 32): the "
                   "checkpoint's weights, vocabularies or data order depend on it; start a new run with another --out "
                   "to change it\n")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == before  # nothing written
    caplog.set_level("INFO", logger="seq2seq")
    assert main(["train", "--out", str(run), "--resume", "--epochs", "3", "--quiet"]) == 0
    assert "resume: train.epochs: 2 -> 3" in caplog.messages
    assert _epochs(run) == [1, 2, 3]
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["epochs"] == 3
    assert json.loads((run / "checkpoints" / "last" / "model.json").read_text())["config"]["train"]["epochs"] == 3
    assert (run / "checkpoints" / "best" / "model.safetensors").read_bytes() == \
        (straight / "checkpoints" / "best" / "model.safetensors").read_bytes()  # as if trained 3 epochs at once


@pytest.mark.slow
def test_a_run_stopped_early_goes_on_with_more_patience(tmp_path, train_args):
    run = tmp_path / "run"
    assert main(train_args(run, "--epochs", "6", "--set", "train.lr=0", "--set", "train.patience=1")) == 0
    assert _epochs(run) == [1, 2]  # lr 0: nothing improves after the first evaluation
    assert main(["train", "--out", str(run), "--resume", "--quiet", "--set", "train.patience=3"]) == 0
    assert _epochs(run) == [1, 2, 3, 4]
