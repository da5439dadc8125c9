"""Config files: reading YAML (version checked, errors naming the file), writing plain and commented YAML."""

import pytest
import yaml

from seq2seq import build_config
from seq2seq.config import Config, ConfigError, commented_yaml, describe_keys, read_yaml, save, to_yaml


def test_defaults_validate_and_round_trip_through_yaml(tmp_path):
    cfg = build_config("luong", overrides=["model.encoder_hidden=64", "model.decoder_hidden=64"])
    path = tmp_path / "c.yaml"
    save(cfg, path)
    again = build_config(yaml_file=path)
    assert again.to_dict() == cfg.to_dict()
    assert again.preset == "luong"


def test_to_yaml_is_the_dict():
    cfg = build_config(overrides={"data.task": "sine", "data.train": "ü.tsv"})
    text = to_yaml(cfg)
    assert yaml.safe_load(text) == cfg.to_dict()
    assert "ü.tsv" in text  # unicode kept readable
    assert list(yaml.safe_load(text)) == ["model", "data", "train", "decode", "preset", "version"]


def test_commented_yaml_reads_back_to_the_same_config(tmp_path):
    cfg = build_config("las", overrides={"data.train": "a b.npz", "data.valid": "v: x.npz"})
    text = commented_yaml(cfg)
    assert text.startswith("# seq2seq config (format version 1)\npreset: las\n")
    assert "  cell: lstm" in text and "# recurrent cell of encoder and decoder (one of: lstm, gru, rnn)" in text
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert build_config(yaml_file=path).to_dict() == cfg.to_dict()
    assert "preset: null" in commented_yaml(Config())


def test_unknown_key_and_bad_section_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  hidden: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown config key 'model.hidden'"):
        build_config(yaml_file=bad)
    section = tmp_path / "section.yaml"
    section.write_text("model: 3\n")
    with pytest.raises(ConfigError, match=r"section.yaml: config section 'model' must be a mapping, got 3"):
        build_config(yaml_file=section)
    value = tmp_path / "value.yaml"
    value.write_text("model:\n  cell: [lstm]\n")
    with pytest.raises(ConfigError, match=r"value.yaml: model.cell: expected one of lstm, gru, rnn, got list"):
        build_config(yaml_file=value)


def test_newer_version_refused(tmp_path):
    newer = tmp_path / "newer.yaml"
    newer.write_text("version: 99\n")
    with pytest.raises(ConfigError, match="version 99 is newer"):
        build_config(yaml_file=newer)
    for text in ("version: true\n", "version: '1'\n"):
        newer.write_text(text)
        with pytest.raises(ConfigError, match=r"newer.yaml: config format version .* is newer"):
            read_yaml(newer)


@pytest.mark.parametrize("content, message", [
    ("- a\n- b\n", "a config file must be a mapping of sections"),
    ("model: [unclosed\n", "cannot read config"),
    (b"model:\n  cell: \xff\n", "cannot read config"),
])
def test_unreadable_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "x.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ConfigError, match=rf"^{path}: {message}"):
        read_yaml(path)
    with pytest.raises(ConfigError, match=rf"^{tmp_path / 'missing.yaml'}: cannot read config"):
        read_yaml(tmp_path / "missing.yaml")


def test_empty_file_is_the_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert read_yaml(path) == {}
    assert build_config(yaml_file=path).to_dict() == build_config().to_dict()


def test_every_key_documented():
    keys = describe_keys()
    assert all(help_text for _, _, help_text in keys)
    assert len(keys) == sum(len(Config().to_dict()[s]) for s in ("model", "data", "train", "decode"))
    described = {k: (default, h) for k, default, h in keys}
    assert described["decode.seed"][0] is None  # unseeded sampling differs from run to run
    assert described["model.attention"][1].endswith("(one of: none, dot, general, concat, scaled_dot, location)")
