"""Presets: named architectures, each a valid config; what the papers' presets set."""

import pytest

from seq2seq import build_config
from seq2seq.config import PRESETS, Config


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_valid(name):
    cfg = build_config(name)
    assert cfg.preset == name


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_described_and_sets_real_keys(name):
    description, values = PRESETS[name]
    assert description
    cfg = Config()
    for key, value in values.items():
        cfg.set(key, value)  # an unknown key or a bad value would raise
    assert build_config(name).to_dict() == {**cfg.to_dict(), "preset": name}


def test_las():
    las = build_config("las")
    assert las.model.pyramid_layers == 3 and las.data.source_type == "features" and las.model.attention == "concat"
    assert las.decode.max_length_a == 0.5 and las.train.early_stopping_metric == "valid_cer"


def test_textbook_presets():
    assert build_config("reverse-peeky").data.reverse_source and build_config("peeky").model.feed_context == "peeky"
    attention = build_config("attention")
    assert attention.model.attention == "dot" and attention.train.bucket is False
    assert build_config("baseline").train.bucket is False
    luong = build_config("luong").model
    assert (luong.attention, luong.attention_output, luong.input_feeding) == ("general", "tanh", True)
