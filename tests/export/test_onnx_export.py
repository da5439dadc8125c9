"""ONNX export of every preset and architecture: the ONNX engine's greedy outputs equal PyTorch's string for
string, beam-5 top hypotheses equal with scores within 1e-4, attention within 1e-5 (tiny random models); what
an export directory holds; refusals."""

import json

import numpy as np
import onnx
import pytest

from seq2seq.config import PRESETS
from seq2seq.engine import load_exported
from seq2seq.export import ExportError, export_onnx, onnx_export
from seq2seq.inference.model import Model
from seq2seq.models.transformer import TransformerState

TEXTS = ["abc", "hello", "j", "abcdefghijabc", "gfedcba", "aaaa", "ij ja"]
RNG = np.random.default_rng(0)
VECTORS = [RNG.normal(size=(n, 3)).astype(np.float32) for n in (5, 1, 9, 13, 4, 8)]

ARCHITECTURES = {
    "gru-bi-sum-linear-input": ["model.cell=gru", "model.bidirectional=true", "model.bidirectional_merge=sum",
                                "model.bridge=linear", "model.feed_context=input", "model.encoder_layers=2"],
    "rnn-bi-mean-dot-concat": ["model.cell=rnn", "model.bidirectional=true", "model.bidirectional_merge=mean",
                               "model.attention=dot", "model.attention_output=concat", "model.input_feeding=true"],
    "lstm-zero-bridge-input-tie": ["model.bridge=zero", "model.feed_context=input", "model.tie_embeddings=true",
                                   "model.decoder_layers=2", "model.decoder_hidden=10"],
    "gru-residual-concat-attention": ["model.cell=gru", "model.residual=true", "model.encoder_layers=3",
                                      "model.decoder_layers=2", "model.attention=concat", "model.bidirectional=true",
                                      "model.bridge=linear", "model.input_feeding=true"],
    "reverse-general-tanh": ["data.reverse_source=true", "model.attention=general", "model.attention_output=tanh"],
    "features-to-features-stop": ["data.source_type=features", "data.target_type=features", "model.stop_flag=true",
                                  "model.attention=general", "model.input_feeding=true"],
    "features-to-features-fixed": ["data.source_type=features", "data.target_type=features",
                                   "data.target_length=4", "model.feed_context=peeky"],
    "location-coverage-input-feeding": ["model.attention=location", "model.coverage=true", "model.input_feeding=true"],
    "two-heads-scaled-dot": ["model.attention=scaled_dot", "model.attention_heads=2", "model.encoder_hidden=6",
                             "model.decoder_hidden=6", "model.bridge=zero"],
    "transformer-encoder-rnn-decoder": ["model.encoder_type=transformer", "model.attention=general",
                                        "model.bridge=linear"],
    "bilstm-encoder-transformer-decoder": ["model.decoder_type=transformer", "model.bidirectional=true",
                                           "model.encoder_layers=2", "model.decoder_layers=2"],
    "gru-encoder-transformer-decoder-learned-tied": ["model.decoder_type=transformer", "model.cell=gru",
                                                     "model.positions=learned", "model.max_positions=64",
                                                     "model.tie_embeddings=true", "model.decoder_layers=3"],
    "features-to-transformer-features-stop": ["data.source_type=features", "data.target_type=features",
                                              "model.decoder_type=transformer", "model.stop_flag=true"],
    "gru-listener-features-to-tokens": ["data.source_type=features", "model.pyramid_layers=2", "model.cell=gru",
                                        "model.attention=concat", "model.bridge=zero"],
}


def _inputs(bundle):
    return TEXTS if bundle.config.data.source_type == "tokens" else VECTORS


def _assert_same(torch_model, onnx_model, inputs, **options):
    expected = torch_model.translate(inputs, attention=True, **options)
    got = onnx_model.translate(inputs, attention=True, **options)
    for a, b in zip(expected, got):
        assert [h.text for h in b] == [h.text for h in a] if a[0].values is None else len(b) == len(a)
        for x, y in zip(a, b):
            assert y.score == pytest.approx(x.score, abs=1e-4)
            if x.values is not None:
                np.testing.assert_allclose(y.values, x.values, atol=1e-4)
            assert (x.attention is None) == (y.attention is None)
            if x.attention is not None:
                np.testing.assert_allclose(np.array(y.attention), np.array(x.attention), atol=1e-5, rtol=0)


def _check_engines(bundle, directory):
    torch_model, onnx_model = Model(bundle), load_exported(export_onnx(bundle, directory))
    inputs = _inputs(bundle)
    _assert_same(torch_model, onnx_model, inputs, beam=1)
    if bundle.config.data.target_type == "tokens":
        _assert_same(torch_model, onnx_model, inputs, beam=5, nbest=2)
        _assert_same(torch_model, onnx_model, inputs, beam=3, alpha=0.6, min_length=3, batch_size=2)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_decodes_as_in_pytorch(preset, tiny_bundle, tmp_path):
    sizes = ["model.decoder_hidden=12"] if preset in ("luong", "bahdanau", "deep-residual", "las") else []
    _check_engines(tiny_bundle(preset, sizes), tmp_path / preset)


@pytest.mark.parametrize("preset", ["luong", "bahdanau", "transformer-tiny"])
def test_the_coverage_penalty_decodes_as_in_pytorch(preset, tiny_bundle, tmp_path):
    bundle = tiny_bundle(preset, ["model.decoder_hidden=12"] if preset in ("luong", "bahdanau") else [])
    torch_model, onnx_model = Model(bundle), load_exported(export_onnx(bundle, tmp_path / preset))
    inputs = _inputs(bundle)
    for beta in (0.2, 2.0):
        _assert_same(torch_model, onnx_model, inputs, beam=4, nbest=2, coverage_penalty=beta)
        _assert_same(torch_model, onnx_model, inputs, beam=3, alpha=0.6, coverage_penalty=beta, batch_size=2)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_every_architecture_decodes_as_in_pytorch(name, tiny_bundle, tmp_path):
    _check_engines(tiny_bundle(None, ARCHITECTURES[name]), tmp_path / name)


def test_export_directory_holds_graphs_json_and_sides_but_no_pickle(tiny_export):
    bundle, out = tiny_export
    names = sorted(p.name for p in out.iterdir())
    assert names == ["encoder.onnx", "export.json", "source.tokenizer.json", "source.vocab.json", "step.onnx",
                     "target.tokenizer.json", "target.vocab.json"]
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["config"] == bundle.config.to_dict()
    assert manifest["config"]["decode"] == bundle.config.to_dict()["decode"]
    assert manifest["batch_axis"] == {"state.hidden": 1, "state.cell": 1, "state.feed": 0, "memory.outputs": 0,
                                      "memory.mask": 0, "memory.keys": 0}
    assert manifest["step"]["outputs"] == ["scores", "top_scores", "top_tokens", "next.state.hidden",
                                           "next.state.cell", "next.state.feed", "attention"]
    assert manifest["check_max_abs_diff"] < 1e-5
    assert manifest["opset"] == 17


def test_graphs_have_dynamic_batch_and_length_axes(tiny_export):
    _, out = tiny_export
    graph = onnx.load(str(out / "encoder.onnx")).graph
    src = next(i for i in graph.input if i.name == "src")
    assert [d.dim_param for d in src.type.tensor_type.shape.dim] == ["batch", "source_steps"]
    step = onnx.load(str(out / "step.onnx")).graph
    keys = next(i for i in step.input if i.name == "memory.keys")
    assert [d.dim_param for d in keys.type.tensor_type.shape.dim][:2] == ["batch", "memory_steps"]


def test_encoder_layers_are_onnx_rnn_nodes_with_sequence_lengths(tiny_bundle, tmp_path):
    bundle = tiny_bundle(None, ["model.cell=gru", "model.bidirectional=true", "model.encoder_layers=3",
                                "model.residual=true", "model.bridge=zero"])
    graph = onnx.load(str(export_onnx(bundle, tmp_path / "x") / "encoder.onnx")).graph
    rnns = [n for n in graph.node if n.op_type == "GRU"]
    assert len(rnns) == 3 and all(n.input[4] for n in rnns)  # input 4: sequence_lens
    assert {a.s for n in rnns for a in n.attribute if a.name == "direction"} == {b"bidirectional"}


def test_step_without_attention_reads_no_encoder_outputs(tiny_bundle, tmp_path):
    out = export_onnx(tiny_bundle("baseline"), tmp_path / "x")
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["step"]["inputs"] == ["prev", "state.hidden", "state.cell", "candidates"]
    assert "attention" not in manifest["step"]["outputs"]


def test_export_replaces_the_directory_whole_and_restores_training_mode(tiny_bundle, tmp_path):
    bundle = tiny_bundle("attention")
    out = tmp_path / "x"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    bundle.model.train()
    export_onnx(bundle, out)
    assert not (out / "stale.txt").exists() and bundle.model.training
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".export-")]


def test_a_position_baked_into_the_step_graph_is_caught_by_the_check(tiny_bundle, tmp_path, monkeypatch):
    # A Python int position is a constant to the tracer: steps after the first would all read position 0.
    monkeypatch.setattr(TransformerState, "position", property(lambda state: int(state.keys.size(3))))
    with pytest.raises(ExportError, match="differ from PyTorch"):
        export_onnx(tiny_bundle("transformer-tiny"), tmp_path / "x")


def test_disagreeing_graphs_are_refused(tiny_bundle, tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_export, "_check", lambda *args: 0.5)
    with pytest.raises(ExportError, match="differ from PyTorch by 0.5"):
        export_onnx(tiny_bundle("attention"), tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("umask", [0o022, 0o027], ids=["umask022", "umask027"])
def test_an_export_folder_gets_the_users_mode(tiny_bundle, tmp_path, umask):
    """The export is shared like any folder the user writes, not left at the temporary folder's 0700."""
    import os
    import stat

    old = os.umask(umask)
    try:
        out = export_onnx(tiny_bundle("luong", ["model.decoder_hidden=12"]), tmp_path / "export")
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask
