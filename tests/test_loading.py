"""`seq2seq.load`: run directories on PyTorch, exported directories on onnxruntime, a run exported on the fly,
and refusals naming the directory or the engine."""

from pathlib import Path

import numpy as np
import pytest

import seq2seq
from seq2seq import ConfigError
from seq2seq.engine import OnnxModel
from seq2seq.inference.model import Model
from seq2seq.runs.directory import CheckpointError, is_exported

V1 = Path(__file__).resolve().parent / "fixtures" / "v1"


def test_auto_engine_follows_the_directory(tiny_export):
    assert isinstance(seq2seq.load(V1 / "tokens"), Model)
    model = seq2seq.load(tiny_export[1])
    assert isinstance(model, OnnxModel) and model.engine == "onnx"
    assert is_exported(tiny_export[1]) and not is_exported(V1 / "tokens")


@pytest.mark.parametrize("run", ["tokens", "features"])
def test_onnx_engine_exports_a_run_on_the_fly(run):
    torch_model = seq2seq.load(V1 / run)
    onnx_model = seq2seq.load(V1 / run, engine="onnx", threads=1)
    assert isinstance(onnx_model, OnnxModel) and onnx_model.parameter_count == torch_model.parameter_count
    inputs = ["abcd", "xyz", "hello"] if run == "tokens" else ["1 2 3", "10 11 12 13"]
    for a, b in zip(torch_model.translate(inputs), onnx_model.translate(inputs)):
        assert b[0].text == a[0].text if a[0].values is None else np.allclose(b[0].values, a[0].values, atol=1e-4)


def test_refusals(tiny_export, tmp_path):
    with pytest.raises(CheckpointError, match="holds ONNX graphs, not PyTorch weights"):
        seq2seq.load(tiny_export[1], engine="torch")
    with pytest.raises(ConfigError, match="unknown engine 'tensorrt'"):
        seq2seq.load(tiny_export[1], engine="tensorrt")
    with pytest.raises(ConfigError, match="runs on the CPU"):
        seq2seq.load(tiny_export[1], engine="onnx", device="cuda")
    with pytest.raises(CheckpointError, match="not a run directory"):
        seq2seq.load(tmp_path, engine="onnx")
