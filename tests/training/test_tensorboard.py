"""TensorBoard event files: scalars and the attention heatmap read back with TensorBoard's own reader,
the config as text, a resumed run hiding what a killed one logged, and a clear error without the package."""

import sys

import pytest

from seq2seq import ConfigError, build_config
from seq2seq.training.prepare import prepare
from seq2seq.training.tensorboard import TensorBoardLog, check_available

pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed (make test installs it)")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

SMALL = {"data.task": "date", "data.train_size": 40, "data.valid_size": 5, "data.test_size": 0,
         "model.embedding_size": 8, "model.encoder_hidden": 16, "model.decoder_hidden": 16}


def _read(directory):
    events = EventAccumulator(str(directory), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    return events


def _bundle(tmp_path, preset):
    cfg = build_config(preset, overrides=SMALL)
    return cfg, prepare(cfg, tmp_path, resume=False)


def test_scalars_attention_map_and_config_read_back(tmp_path):
    cfg, data = _bundle(tmp_path, "attention")
    board = TensorBoardLog(tmp_path, cfg, None)
    board.training(3, {"loss": 2.5, "lr": 1e-3, "tokens_per_second": 900.0})
    record = {"epoch": 1.0, "step": 3, "train_loss": 2.5, "valid_loss": 2.25, "valid_exact_match": 0.5,
              "valid_chrf": 40.0, "seconds": 1.0, "eval_seconds": 0.25}
    board.validation(3, record)
    board.attention(3, data.bundle.model, data.bundle.source, data.bundle.target, data.valid[0], cfg.decode)
    board.close()
    events = _read(tmp_path)
    assert set(events.Tags()["scalars"]) == {"train/loss", "train/lr", "train/tokens_per_second", "valid/loss",
                                             "valid/exact_match", "valid/chrf", "valid/eval_seconds"}
    assert [(e.step, e.value) for e in events.Scalars("valid/loss")] == [(3, 2.25)]
    assert events.Scalars("train/lr")[0].value == pytest.approx(1e-3)
    image = events.Images("attention/valid_0")[0]
    assert image.step == 3 and image.encoded_image_string[:4] == b"\x89PNG" and image.width > 100
    assert "config/text_summary" in events.Tags()["tensors"]


def test_no_heatmap_without_attention(tmp_path):
    cfg, data = _bundle(tmp_path, "baseline")
    board = TensorBoardLog(tmp_path, cfg, None)
    board.attention(1, data.bundle.model, data.bundle.source, data.bundle.target, data.valid[0], cfg.decode)
    board.close()
    assert _read(tmp_path).Tags()["images"] == []


def test_a_resumed_run_hides_what_was_logged_after_its_checkpoint(tmp_path):
    cfg = build_config(overrides=SMALL)
    first = TensorBoardLog(tmp_path, cfg, None)
    for step in (1, 2, 3):
        first.training(step, {"loss": float(step)})
    first.close()
    again = TensorBoardLog(tmp_path, cfg, resumed_at=1)  # the checkpoint of step 1
    again.training(2, {"loss": 20.0})
    again.close()
    assert [(e.step, e.value) for e in _read(tmp_path).Scalars("train/loss")] == [(1, 1.0), (2, 20.0)]


def test_without_the_package_the_error_says_what_to_install(monkeypatch):
    check_available()
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ConfigError, match=r"train.tensorboard=true needs the tensorboard package: "
                                          r"pip install 'seq2seq\[tensorboard\]'"):
        check_available()


def test_a_run_asking_for_tensorboard_without_it_stops_before_reading_data(tmp_path, monkeypatch):
    from seq2seq.training import Trainer

    monkeypatch.setitem(sys.modules, "tensorboard", None)
    cfg = build_config(overrides={**SMALL, "train.tensorboard": True})
    with pytest.raises(ConfigError, match="train.tensorboard=true needs the tensorboard package"):
        Trainer(cfg, tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()
