"""Property tests of the config boundary: any YAML document, any `--set key=value`, gives a valid Config or a
ConfigError naming the key, never another exception; and any config validation accepts builds a model that
trains a step and generates within the caps."""

import dataclasses
import math

import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from seq2seq import build_config, build_model
from seq2seq.config import SECTIONS, Config, ConfigError
from seq2seq.config.yaml_io import to_yaml
from seq2seq.decoding import greedy

KEYS = {section: [f.name for f in dataclasses.fields(cls)] for section, cls in SECTIONS.items()}
CHOICES = sorted({c for cls in SECTIONS.values() for f in dataclasses.fields(cls)
                  for c in f.metadata.get("choices", ())})

SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(-3, 300) | st.floats()
           | st.sampled_from([float("nan"), float("inf"), -0.0, 1e-300, 1e300]) | st.text(max_size=12)
           | st.sampled_from(CHOICES))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                               max_size=3),
                      max_leaves=6)
SECTION = st.sampled_from(sorted(SECTIONS)).flatmap(
    lambda s: st.tuples(st.just(s), st.dictionaries(st.sampled_from(KEYS[s]) | st.text(max_size=8), VALUES,
                                                    max_size=6)))
DOCUMENT = st.one_of(
    st.lists(SECTION, max_size=4).map(dict),
    st.dictionaries(st.sampled_from(["model", "data", "train", "decode", "preset", "version"]) | st.text(max_size=6),
                    VALUES, max_size=4),
    VALUES)


def _finite_and_allowed(cfg: Config) -> None:
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            value = getattr(getattr(cfg, section), f.name)
            if isinstance(value, float):
                assert math.isfinite(value), f"{section}.{f.name}"
            if f.metadata.get("choices"):
                assert value in f.metadata["choices"], f"{section}.{f.name}"
            low, high = f.metadata.get("low"), f.metadata.get("high")
            if value is not None and not isinstance(value, (str, bool)):
                assert (low is None or value >= low) and (high is None or value <= high), f"{section}.{f.name}"


def _yaml_document(document, tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "c.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    try:
        cfg = build_config(yaml_file=path)
    except ConfigError as e:
        assert str(e).startswith(str(path)) and "\n" not in str(e)
        return
    _finite_and_allowed(cfg)
    path.write_text(to_yaml(cfg), encoding="utf-8")  # what a run saves reads back the same
    assert build_config(yaml_file=path).to_dict() == cfg.to_dict()


@pytest.mark.parametrize("examples", [60, pytest.param(600, marks=pytest.mark.slow)])
def test_any_yaml_document_is_a_config_or_a_config_error(tmp_path_factory, examples):
    settings(max_examples=examples)(given(DOCUMENT)(lambda document: _yaml_document(document, tmp_path_factory)))()


@settings(max_examples=40)
@given(st.binary(max_size=60) | st.text(max_size=60).map(str.encode)
       | st.sampled_from([b"model: [", b"model:\n  cell: [lstm]", b"version: 99", b"\xff\xfe", b"- a\n- b",
                          b"train:\n  lr: .nan", b"data: !!python/object:os.system {}", b"preset: [x]"]))
def test_any_file_is_a_config_or_a_one_line_config_error(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("cfg") / "c.yaml"
    path.write_bytes(raw)
    try:
        _finite_and_allowed(build_config(yaml_file=path))
    except ConfigError as e:
        assert str(e).startswith(str(path)) and "\n" not in str(e)


@settings(max_examples=60)
@given(st.lists(st.tuples(st.sampled_from([f"{s}.{k}" for s, ks in KEYS.items() for k in ks]) | st.text(max_size=10),
                          st.text(max_size=12) | SCALARS.map(str)), max_size=4))
def test_any_set_override_is_applied_or_refused_by_key(overrides):
    items = [f"{key}={value}" for key, value in overrides]
    try:
        cfg = build_config(overrides=items)
    except ConfigError as e:
        assert "\n" not in str(e)
        return
    _finite_and_allowed(cfg)


# --- what validation accepts, the model runs ---------------------------------------------------------------

SMALL = st.integers(1, 6)
MODEL = st.fixed_dictionaries({
    "model.cell": st.sampled_from(["lstm", "gru", "rnn"]),
    "model.embedding_size": SMALL, "model.encoder_hidden": SMALL, "model.decoder_hidden": SMALL,
    "model.encoder_layers": st.integers(1, 2), "model.decoder_layers": st.integers(1, 2),
    "model.bidirectional": st.booleans(), "model.bidirectional_merge": st.sampled_from(["concat", "sum", "mean"]),
    "model.residual": st.booleans(), "model.dropout": st.sampled_from([0.0, 0.3]),
    "model.bridge": st.sampled_from(["copy", "zero", "linear"]),
    "model.feed_context": st.sampled_from(["init", "input", "peeky"]),
    "model.attention": st.sampled_from(["none", "dot", "general", "concat"]),
    "model.attention_output": st.sampled_from(["concat", "tanh"]), "model.input_feeding": st.booleans(),
    "model.tie_embeddings": st.booleans(), "model.pyramid_layers": st.integers(0, 2),
    "model.stop_flag": st.booleans(), "data.source_type": st.sampled_from(["tokens", "features"]),
    "data.target_type": st.sampled_from(["tokens", "features"]), "data.reverse_source": st.booleans(),
    "train.teacher_forcing": st.sampled_from([1.0, 0.5]),
    "decode.max_output_length": st.integers(1, 12), "decode.max_length_a": st.sampled_from([0.0, 2.0, 1e30]),
    "decode.min_length": st.integers(0, 20),
})


def _batch(kind, size, lengths):
    rows = int(lengths.max())
    if kind == "tokens":
        return torch.randint(4, size, (len(lengths), rows))
    return torch.randn(len(lengths), rows, size)


def _model_runs(values):
    try:
        cfg = build_config(overrides=values)
    except ConfigError:
        return
    torch.manual_seed(0)
    src_size, tgt_size = (9 if cfg.data.source_type == "tokens" else 3), (9 if cfg.data.target_type == "tokens" else 2)
    model = build_model(cfg, src_size, tgt_size)
    lengths = torch.tensor([5, 3])
    src, tgt_in = _batch(cfg.data.source_type, src_size, lengths), _batch(cfg.data.target_type, tgt_size, lengths)
    out = model(src, lengths, tgt_in, teacher_forcing=cfg.train.teacher_forcing)
    assert out.scores.shape[:2] == tgt_in.shape[:2]
    model.eval()
    for hyp in greedy(model, src, lengths, cfg.decode):
        assert len(hyp.output) <= cfg.decode.max_output_length


@pytest.mark.parametrize("examples", [40, pytest.param(300, marks=pytest.mark.slow)])
def test_every_model_config_validation_accepts_runs(examples):
    settings(max_examples=examples)(given(MODEL)(_model_runs))()
