"""Copy attention (pointer-generator) through the ONNX export: the engine's outputs equal PyTorch's, copied
words (extended ids) resolved to the source words, greedy and beam; a trained `names` model's test set."""

import pytest

from seq2seq.data.copying import CopySourceSide
from seq2seq.engine import load_exported
from seq2seq.export import export_onnx
from seq2seq.inference.model import Model

# "x", "y", "z" are outside the tiny vocabularies: copying is the only way to emit them
TEXTS = ["abc", "hello", "j", "abcdefghijabc", "xyzzy", "ax by cz", "ij ja"]


def _copy_bundle(tiny_bundle, overrides):
    bundle = tiny_bundle(None, ["model.attention=concat", "model.copy=true", *overrides])
    bundle.source = CopySourceSide.around(bundle.source, bundle.target.vocab)
    return bundle


def _assert_same(torch_model, onnx_model, inputs, **options):
    expected = torch_model.translate(inputs, attention=True, **options)
    got = onnx_model.translate(inputs, attention=True, **options)
    assert [[h.text for h in r] for r in got] == [[h.text for h in r] for r in expected]
    for a, b in zip(expected, got):
        for x, y in zip(a, b):
            assert y.score == pytest.approx(x.score, abs=1e-4)
    return got


@pytest.mark.parametrize("overrides", [[], ["model.cell=gru", "model.input_feeding=true", "model.bidirectional=true",
                                            "model.bridge=linear"]])
def test_a_copy_model_decodes_as_in_pytorch(overrides, tiny_bundle, tmp_path):
    bundle = _copy_bundle(tiny_bundle, overrides)
    torch_model, onnx_model = Model(bundle), load_exported(export_onnx(bundle, tmp_path / "copy"))
    got = _assert_same(torch_model, onnx_model, TEXTS, beam=1, max_length=12)
    _assert_same(torch_model, onnx_model, TEXTS, beam=4, nbest=2, max_length=12)
    _assert_same(torch_model, onnx_model, TEXTS, beam=3, alpha=0.6, min_length=2, batch_size=2, max_length=12)
    # the random model copies: some output holds a character only the source has
    assert any(set(r[0].text) & set("xyz") for r in got)


def test_a_copy_model_quantizes(tiny_bundle, tmp_path):
    bundle = _copy_bundle(tiny_bundle, [])
    model = load_exported(export_onnx(bundle, tmp_path / "copy", quantize="int8"))
    assert len(model.translate(TEXTS, beam=3, max_length=12)) == len(TEXTS)


@pytest.mark.slow  # trains a names model (about a minute)
def test_trained_names_model_decodes_its_test_set_as_pytorch(tmp_path):
    import seq2seq
    from seq2seq import build_config
    from seq2seq.data.corpus import load_splits

    cfg = build_config("bahdanau", overrides={
        "data.task": "names", "data.train_size": 2000, "data.valid_size": 50, "data.test_size": 60,
        "model.embedding_size": 32, "model.encoder_hidden": 64, "model.decoder_hidden": 64, "model.copy": True,
        "train.epochs": 3, "train.batch_size": 32, "train.lr": 0.005, "train.threads": 1, "model.dropout": 0.0})
    seq2seq.train(cfg, tmp_path / "run", quiet=True)
    torch_model = seq2seq.load(tmp_path / "run")
    onnx_model = seq2seq.load(export_onnx(tmp_path / "run", tmp_path / "exported"), threads=1)
    sources = [s for s, _ in load_splits(torch_model.config)["test"]]
    assert len(sources) == 60
    _assert_same(torch_model, onnx_model, sources, beam=1)
    _assert_same(torch_model, onnx_model, sources, beam=5, nbest=2)
