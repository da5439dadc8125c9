"""OnnxModel: the same front as the PyTorch Model (empty inputs, the source length limit, decoding defaults), and
refusals of broken or foreign export directories naming the file."""

import json
import shutil

import pytest

from seq2seq.engine import load_exported
from seq2seq.inference.model import Model
from seq2seq.inference.translator import InputTooLong
from seq2seq.runs.directory import CheckpointError


def _copy(tiny_export, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(tiny_export[1], out)
    return out


def test_front_matches_the_pytorch_model(tiny_export):
    bundle, out = tiny_export
    onnx_model, torch_model = load_exported(out), Model(bundle)
    assert onnx_model.decode_options() == torch_model.decode_options()
    assert onnx_model.parameter_count == torch_model.parameter_count
    got, expected = onnx_model.translate(["", "abc", "  "]), torch_model.translate(["", "abc", "  "])
    assert [r[0].text for r in got] == [r[0].text for r in expected]
    assert got[0][0].tokens == [] and got[1][0].source_tokens == ["a", "b", "c"]
    assert onnx_model.predict(["abc"]) == torch_model.predict(["abc"])


def test_long_inputs_are_refused_or_cut_as_decode_says(tiny_export, tmp_path):
    out = _copy(tiny_export, tmp_path)
    manifest = json.loads((out / "export.json").read_text())
    manifest["config"]["decode"]["max_source_length"] = 3
    (out / "export.json").write_text(json.dumps(manifest))
    model = load_exported(out)
    with pytest.raises(InputTooLong, match="input 0: 6 source steps, more than decode.max_source_length=3"):
        model.translate(["abcdef"])
    assert model.translate(["abcdef"], truncate_source=True)[0][0].source_tokens == list("abc")


@pytest.mark.parametrize("change,message", [
    (lambda m: m.update(format_version=99), "export format version 99 is newer"),
    (lambda m: m.update(format="other"), "not a seq2seq ONNX export"),
    (lambda m: m.update(target_size=3), "the target side has 14 entries but export.json says 3"),
    (lambda m: m["config"]["model"].update(cell="transformer"), "invalid config"),
])
def test_broken_manifests_are_refused(tiny_export, tmp_path, change, message):
    out = _copy(tiny_export, tmp_path)
    manifest = json.loads((out / "export.json").read_text())
    change(manifest)
    (out / "export.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=message):
        load_exported(out)


def test_missing_or_broken_files_are_refused(tiny_export, tmp_path):
    out = _copy(tiny_export, tmp_path)
    (out / "step.onnx").write_bytes(b"not a graph")
    with pytest.raises(CheckpointError, match="cannot load the ONNX graphs"):
        load_exported(out)
    (out / "target.vocab.json").unlink()
    with pytest.raises(CheckpointError, match="target.vocab.json"):
        load_exported(out)
    (out / "export.json").unlink()
    with pytest.raises(CheckpointError, match="export.json: missing"):
        load_exported(out)
