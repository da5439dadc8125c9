import pytest

from seq2seq.config import PRESETS, Config, ConfigError, build_config, describe_keys


def test_defaults_validate_and_round_trip_through_yaml(tmp_path):
    cfg = build_config("luong", overrides=["model.encoder_hidden=64", "model.decoder_hidden=64"])
    path = tmp_path / "c.yaml"
    cfg.save(path)
    again = build_config(yaml_file=path)
    assert again.to_dict() == cfg.to_dict()
    assert again.preset == "luong"


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_valid(name):
    cfg = build_config(name)
    assert cfg.preset == name


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
    ("model.celll=lstm", "unknown config key 'model.celll'; model keys are: cell,"),
    ("modle.cell=lstm", "unknown config key 'modle.cell'"),
    ("train.lr=fast", "train.lr: expected a number, got 'fast'"),
    ("train.epochs=2.5", "train.epochs: expected an integer, got 2.5"),
    ("train.epochs=0", "train.epochs: 0 is below the minimum 1"),
    ("model.bidirectional=maybe", "model.bidirectional: expected true or false, got 'maybe'"),
    ("model.dropout=1.5", "model.dropout: 1.5 is above the maximum 0.99"),
    ("model.attention", "expected key=value"),
])
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        build_config(overrides=[override])
    assert message in str(err.value)


@pytest.mark.parametrize("overrides, key", [
    (["model.encoder_hidden=64", "model.decoder_hidden=128"], "model.bridge=copy"),
    (["model.encoder_layers=2"], "model.bridge=copy needs model.encoder_layers"),
    (["model.bidirectional=true"], "model.bridge=copy"),
    (["model.bridge=linear", "model.bidirectional=true", "model.attention=dot"], "model.attention=dot"),
    (["model.input_feeding=true"], "model.input_feeding=true needs model.attention"),
    (["model.attention_output=tanh"], "model.attention_output=tanh needs model.attention"),
])
def test_impossible_combinations_refused(overrides, key):
    with pytest.raises(ConfigError, match=key.replace("(", r"\(").replace(")", r"\)")):
        build_config(overrides=overrides)


def test_unknown_preset_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="unknown preset 'nope'; presets: baseline"):
        build_config("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  hidden: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown config key 'model.hidden'"):
        build_config(yaml_file=bad)
    newer = tmp_path / "newer.yaml"
    newer.write_text("version: 99\n")
    with pytest.raises(ConfigError, match="version 99 is newer"):
        build_config(yaml_file=newer)


def test_every_key_documented():
    keys = describe_keys()
    assert all(help_text for _, _, help_text in keys)
    assert len(keys) == sum(len(Config().to_dict()[s]) for s in ("model", "data", "train", "decode"))
