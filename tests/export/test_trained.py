"""A trained model's export (recurrent, and a Transformer) decodes as PyTorch does: greedy outputs string for
string, beam-5 top hypotheses with scores within 1e-4, attention within 1e-5."""

import numpy as np
import pytest

import seq2seq
from seq2seq.data.corpus import load_splits
from seq2seq.export import export_onnx

pytestmark = pytest.mark.slow  # uses the session's trained reverse run


def test_trained_model_decodes_its_test_set_as_pytorch(reverse_run, tmp_path):
    torch_model = seq2seq.load(reverse_run)
    onnx_model = seq2seq.load(export_onnx(reverse_run, tmp_path / "exported"), threads=1)
    sources = [s for s, _ in load_splits(torch_model.config)["test"]]
    assert len(sources) == 50
    for options in ({"beam": 1}, {"beam": 5, "nbest": 2, "alpha": 0.6}):
        expected = torch_model.translate(sources, attention=True, **options)
        got = onnx_model.translate(sources, attention=True, **options)
        assert [h.text for r in got for h in r] == [h.text for r in expected for h in r]
        for a, b in zip(expected, got):
            assert b[0].score == pytest.approx(a[0].score, abs=1e-4)
            np.testing.assert_allclose(np.array(b[0].attention), np.array(a[0].attention), atol=1e-5, rtol=0)
    right = sum(r[0].text == s[::-1] for s, r in zip(sources, got))
    assert right / len(sources) >= 0.85


def test_trained_transformer_decodes_as_pytorch(transformer_run, tmp_path):
    torch_model = seq2seq.load(transformer_run)
    onnx_model = seq2seq.load(export_onnx(transformer_run, tmp_path / "exported"), threads=1)
    sources = ["abc", "hello world", "a", "the quick brown fox", "reverse me", "zyx"]
    for options in ({"beam": 1}, {"beam": 5, "nbest": 2, "alpha": 0.6}):
        expected = torch_model.translate(sources, attention=True, **options)
        got = onnx_model.translate(sources, attention=True, **options)
        assert [h.text for r in got for h in r] == [h.text for r in expected for h in r]
        for a, b in zip(expected, got):
            assert b[0].score == pytest.approx(a[0].score, abs=1e-4)
            np.testing.assert_allclose(np.array(b[0].attention), np.array(a[0].attention), atol=1e-5, rtol=0)
