"""Config fields: a raw value (typed, or a string parsed as a YAML scalar) becomes the field's type, checked
against its choices, aliases and bounds; every refusal is a ConfigError naming the key."""

import dataclasses
import math

import pytest

from seq2seq import build_config
from seq2seq.config import Config, ConfigError, DataConfig, ModelConfig, TrainConfig
from seq2seq.config.fields import coerce, field_type
from seq2seq.config.schema import section_value


def _field(cls, name):
    return next(f for f in dataclasses.fields(cls) if f.name == name)


def test_set_parses_types_and_aliases():
    cfg = build_config(overrides=["model.attention=bahdanau", "model.bidirectional=true", "model.bridge=linear",
                                  "train.lr=0.01", "data.max_source_length=50", "data.train=x.tsv"])
    assert cfg.model.attention == "concat"
    assert cfg.model.bidirectional is True
    assert cfg.train.lr == 0.01
    assert cfg.data.max_source_length == 50
    assert cfg.data.train == "x.tsv"
    assert build_config(overrides=["model.attention=luong"]).model.attention == "general"


@pytest.mark.parametrize("override, message", [
    ("model.cell=transformer", "model.cell: bad value 'transformer'; allowed values: lstm, gru, rnn"),
    ("train.lr=fast", "train.lr: expected a number, got 'fast'"),
    ("train.epochs=2.5", "train.epochs: expected an integer, got 2.5"),
    ("train.epochs=0", "train.epochs: 0 is below the minimum 1"),
    ("model.bidirectional=maybe", "model.bidirectional: expected true or false, got 'maybe'"),
    ("model.dropout=1.5", "model.dropout: 1.5 is above the maximum 0.99"),
])
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        build_config(overrides=[override])
    assert message in str(err.value)


def test_field_types_and_optionality():
    assert field_type(ModelConfig, "encoder_hidden") == (int, False)
    assert field_type(DataConfig, "max_source_length") == (int, True)
    assert field_type(DataConfig, "task") == (str, True)
    assert field_type(TrainConfig, "lr") == (float, False)
    assert field_type(ModelConfig, "bidirectional") == (bool, False)


@pytest.mark.parametrize("key, text, value", [
    ("model.encoder_hidden", "64", 64),
    ("train.lr", "1.0e-3", 1e-3),
    ("train.lr", "2", 2.0),  # an integer is a number: stored as a float
    ("model.bidirectional", "true", True),
    ("model.bidirectional", "no", False),  # YAML 1.1 booleans
    ("data.max_source_length", "", None),  # empty = None for an optional key
    ("data.max_source_length", "null", None),
    ("data.train", "123", "123"),  # a string field keeps the text as it is
    ("data.train", "true", "true"),
    ("model.cell", "GRU", "gru"),  # choices ignore case
    ("model.attention", "Additive", "concat"),  # aliases too
])
def test_strings_are_read_as_yaml_scalars(key, text, value):
    cfg = Config()
    cfg.set(key, text)
    section, name = key.split(".")
    got = getattr(getattr(cfg, section), name)
    assert got == value and type(got) is type(value)


def test_typed_values_are_taken_as_they_are():
    cfg = Config()
    cfg.set("train.lr", 1)
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    cfg.set("model.bidirectional", True)
    assert cfg.model.bidirectional is True
    for key, value, message in (("train.epochs", True, "expected an integer, got True"),
                                ("train.lr", False, "expected a number, got False"),
                                ("model.bidirectional", 1, "expected true or false, got 1"),
                                ("train.epochs", 3.0, "expected an integer, got 3.0")):
        with pytest.raises(ConfigError, match=f"^{key}: {message}"):
            cfg.set(key, value)


def test_empty_value_for_a_required_key():
    with pytest.raises(ConfigError, match=r"^train\.epochs may not be empty"):
        build_config(overrides=["train.epochs="])
    with pytest.raises(ConfigError, match=r"^model\.cell may not be empty"):
        Config().set("model.cell", None)


def test_unparseable_yaml_scalar():
    with pytest.raises(ConfigError, match=r"^train\.lr: cannot parse value '\[1, 2'"):
        Config().set("train.lr", "[1, 2")


@pytest.mark.parametrize("value, kind", [(["lstm"], "list"), ({"a": 1}, "dict"), (3, "int"), (True, "bool")])
def test_choices_refuse_lists_mappings_and_numbers(value, kind):
    with pytest.raises(ConfigError, match=rf"^model\.cell: expected one of lstm, gru, rnn, got {kind} "):
        Config().set("model.cell", value)


def test_choice_error_lists_aliases():
    with pytest.raises(ConfigError) as err:
        Config().set("model.attention", "cosine")
    assert str(err.value) == ("model.attention: bad value 'cosine'; allowed values: none, dot, general, concat, "
                              "scaled_dot, location (aliases: mlp, bahdanau, additive, luong, scaled-dot, "
                              "location-aware)")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, ".nan", ".inf", "-.inf"])
def test_non_finite_numbers_are_refused(value):
    with pytest.raises(ConfigError, match=r"^train\.lr: expected a finite number, got "):
        Config().set("train.lr", value)


def test_bounds_are_inclusive():
    cfg = Config()
    cfg.set("model.dropout", 0.99)
    cfg.set("model.dropout", 0.0)
    cfg.set("decode.top_p", 1.0)
    cfg.set("model.pyramid_layers", 6)
    with pytest.raises(ConfigError, match=r"^model\.pyramid_layers: 7 is above the maximum 6"):
        cfg.set("model.pyramid_layers", 7)
    with pytest.raises(ConfigError, match=r"^model\.dropout: -0\.1 is below the minimum 0\.0"):
        cfg.set("model.dropout", "-0.1")
    with pytest.raises(ConfigError, match=r"^data\.max_vocab_size: 4 is below the minimum 5"):
        cfg.set("data.max_vocab_size", 4)


def test_coerce_directly():
    f = _field(ModelConfig, "encoder_hidden")
    assert coerce("x.encoder_hidden", ModelConfig, f, "12") == 12
    with pytest.raises(ConfigError, match=r"^x\.encoder_hidden: 0 is below the minimum 1"):
        coerce("x.encoder_hidden", ModelConfig, f, 0)


def test_unknown_keys_name_the_section_keys():
    with pytest.raises(ConfigError, match=r"^unknown config key 'model\.celll'; model keys are: cell, "):
        section_value(ModelConfig, "model", "celll", "lstm")
    for key in ("modle.cell", "model", "model."):
        with pytest.raises(ConfigError, match=rf"^unknown config key '{key}': keys look like "
                                              r"model/data/train/decode\.<name>"):
            Config().set(key, "lstm")


def test_an_exponent_without_a_dot_is_a_number():
    # YAML 1.1 reads `1e-3` as a string; a float key takes it as the number it means.
    cfg = Config()
    cfg.set("train.lr", "1e-3")
    cfg.set("train.label_smoothing", "5E-2")
    assert cfg.train.lr == 0.001 and cfg.train.label_smoothing == 0.05
    with pytest.raises(ConfigError, match="train.lr: expected a number"):
        cfg.set("train.lr", "1e-3x")
