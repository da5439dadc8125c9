"""int8 ONNX export: a Gemm rewritten as MatMul + Add computes the same; the quantized graphs hold integer
products (and DynamicQuantizeLSTM for an LSTM encoder), load on the unchanged engine and decode close to
float32; a trained model's int8 export agrees with float32 on most test sentences."""

import collections
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from seq2seq.cli import main
from seq2seq.data.corpus import load_splits
from seq2seq.engine import load_exported
from seq2seq.export import ExportError, export_onnx
from seq2seq.export.quantize import gemm_to_matmul

TEXTS = ["abc", "hello", "j", "abcdefghijabc", "gfedcba", "aaaa", "ij ja"]


def _gemm_model(trans_b: int, bias: bool, shared: bool) -> onnx.ModelProto:
    rng = np.random.default_rng(trans_b * 4 + bias * 2 + shared)
    w = rng.normal(size=(5, 3) if trans_b else (3, 5)).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w")]
    inputs = ["x", "w"]
    if bias:
        inits.append(numpy_helper.from_array(rng.normal(size=5).astype(np.float32), "b"))
        inputs.append("b")
    nodes = [helper.make_node("Gemm", inputs, ["y"], name="gemm", transB=trans_b)]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 5])]
    if shared:  # the weight read by another node too, as a tied embedding's is
        nodes.append(helper.make_node("Identity", ["w"], ["w_out"]))
        outputs.append(helper.make_tensor_value_info("w_out", TensorProto.FLOAT, list(w.shape)))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
                              outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})


@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("shared", [False, True])
def test_gemm_becomes_matmul_and_computes_the_same(trans_b, bias, shared):
    model = _gemm_model(trans_b, bias, shared)
    x = np.random.default_rng(9).normal(size=(4, 3)).astype(np.float32)
    expected = _run(model, x)
    assert gemm_to_matmul(model) == 1
    onnx.checker.check_model(model)
    ops = [n.op_type for n in model.graph.node]
    assert "Gemm" not in ops and "MatMul" in ops and ("Add" in ops) == bias
    assert ("w" in {i.name for i in model.graph.initializer}) == shared
    for a, b in zip(_run(model, x), expected):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def _ops(path) -> collections.Counter:
    return collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node)


@pytest.mark.parametrize("name,preset,overrides", [
    ("lstm-attention", None, ["model.attention=general", "model.input_feeding=true"]),
    ("gru-bi", None, ["model.cell=gru", "model.bidirectional=true", "model.bridge=linear", "model.attention=concat"]),
    ("transformer", "transformer-tiny", []),
])
def test_int8_export_quantizes_products_and_decodes_close_to_float32(name, preset, overrides, tiny_bundle, tmp_path):
    bundle = tiny_bundle(preset, overrides)
    fp32 = load_exported(export_onnx(bundle, tmp_path / "fp32"))
    out = export_onnx(bundle, tmp_path / "int8", quantize="int8")
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["quantization"] == "int8" and manifest["check_max_abs_diff"] < 1e-4
    assert 0 < manifest["quantized_max_abs_diff"] < 0.5
    step = _ops(out / "step.onnx")
    assert step["MatMulInteger"] >= 1 and step["Gemm"] == 0
    if name == "lstm-attention":
        assert _ops(out / "encoder.onnx")["DynamicQuantizeLSTM"] == 1
    if name == "gru-bi":  # onnxruntime has no quantized GRU: the encoder's node stays float32
        assert _ops(out / "encoder.onnx")["GRU"] == 1
    int8 = load_exported(out)
    for options in ({"beam": 1}, {"beam": 3, "nbest": 2}):
        expected, got = fp32.translate(TEXTS, **options), int8.translate(TEXTS, **options)
        assert [len(r) for r in got] == [len(r) for r in expected]
        same = [(a[0], b[0]) for a, b in zip(expected, got) if a[0].text == b[0].text]
        assert len(same) >= len(TEXTS) - 2
        for a, b in same:
            assert b.score == pytest.approx(a.score, rel=0.05, abs=0.05)


def test_an_unknown_quantization_is_refused(tiny_bundle, tmp_path):
    with pytest.raises(ExportError, match=r"^unknown ONNX quantization 'int4'; one of: int8"):
        export_onnx(tiny_bundle("attention"), tmp_path / "x", quantize="int4")
    assert not (tmp_path / "x").exists()


@pytest.mark.slow  # uses the session's trained reverse run
def test_trained_model_int8_agrees_with_float32_on_most_sentences(reverse_run, tmp_path, capsys):
    assert main(["export", str(reverse_run), "--out", str(tmp_path / "int8"), "--quantize", "int8"]) == 0
    capsys.readouterr()
    fp32 = load_exported(export_onnx(reverse_run, tmp_path / "fp32"), threads=1)
    int8 = load_exported(tmp_path / "int8", threads=1)
    sources = [s for s, _ in load_splits(fp32.config)["test"]]
    for options in ({"beam": 1}, {"beam": 5}):
        expected = [r[0].text for r in fp32.translate(sources, **options)]
        got = [r[0].text for r in int8.translate(sources, **options)]
        assert sum(a == b for a, b in zip(expected, got)) / len(sources) >= 0.9
        right = sum(g == s[::-1] for s, g in zip(sources, got)) / len(sources)
        assert right >= sum(e == s[::-1] for s, e in zip(sources, expected)) / len(sources) - 0.06


def test_export_command_quantizes_and_refuses_an_unknown_type_in_one_line(tmp_path, capsys):
    from pathlib import Path

    run = Path(__file__).resolve().parents[1] / "fixtures" / "v1" / "tokens"
    assert main(["export", str(run), "--out", str(tmp_path / "int8"), "--quantize", "int8"]) == 0
    capsys.readouterr()
    assert json.loads((tmp_path / "int8" / "export.json").read_text())["quantization"] == "int8"
    assert main(["translate", str(tmp_path / "int8"), "--input", str(_lines(tmp_path))]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["export", str(run), "--out", str(tmp_path / "x"), "--quantize", "int16"]) == 2
    err = capsys.readouterr().err
    assert "unknown ONNX quantization 'int16'; one of: int8" in err and len(err.strip().splitlines()) == 1


def _lines(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("abcd\nxyz\n")
    return path
