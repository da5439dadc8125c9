"""`seq2seq export --format onnx`: a run's model as two ONNX graphs (see `graphs`), with its vocabularies,
tokenizers or feature statistics, its config and decoding defaults beside them (JSON and safetensors, never
pickle), checked against PyTorch before anything is written.

The graphs come from torch's TorchScript-based exporter (`dynamo=False`): it writes a graph in about 0.1 s
where the torch.export-based one took 3-7 s per graph here (torch 2.13), which decides whether every
architecture can be exported in the fast tests. Padding behaves as in PyTorch because the encoder's RNN
layers are traced through the masked path (`StackedRNN.forward_masked`), one ONNX RNN/GRU/LSTM node with
`sequence_lens` per layer (`rnn_symbolic`). With quantize="int8" the checked graphs are then quantized
(`quantize`) and checked again, their difference recorded rather than bounded.
"""

from __future__ import annotations

import json
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..runs.bundle import Bundle, export_dir, load_bundle
from ..runs.directory import EXPORT_JSON, NEXT
from .graphs import BATCH, EncoderGraph, StepGraph, example_source, probe
from .quantize import QUANTIZATIONS, quantize_graph
from .rnn_symbolic import OPSET, register

FORMAT_VERSION = 1
ENCODER_FILE, STEP_FILE = "encoder.onnx", "step.onnx"
TOLERANCE = 1e-4  # largest difference to PyTorch (relative beyond magnitude 1) an export may show on its check
CHECK_STEPS = 3  # decoder steps the check runs


class ExportError(RuntimeError):
    """A model that cannot be exported, or whose graphs disagree with PyTorch; the message says which."""


def _export(module: nn.Module, args: tuple[Any, ...], path: Path, inputs: list[str], outputs: list[str],
            axes: dict[str, dict[int, str]]) -> None:
    with warnings.catch_warnings():
        # The tracer warns wherever a size becomes a Python number (the input checks) and the exporter that it
        # is the TorchScript-based one; the check in `export_onnx` runs the graphs on other shapes instead.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module, args, str(path), dynamo=False, opset_version=OPSET, input_names=inputs,
                          output_names=outputs, dynamic_axes={n: axes[n] for n in inputs + outputs if n in axes})


def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _graph_inputs(path: Path) -> set[str]:
    return {i.name for i in _session(path).get_inputs()}


def _check(directory: Path, model: nn.Module, names: dict[str, list[str]], state_cls: type, memory_cls: type) -> float:
    """The largest difference between onnxruntime and PyTorch on a batch the graphs were not traced with, over
    CHECK_STEPS steps, each fed the state its own engine gave (so a cache that grows is checked non-empty)."""
    src, lengths = example_source(model, 5, 11, seed=1)
    step_graph = StepGraph(model, state_cls, memory_cls, names["step_inputs"], names["step_outputs"])
    with torch.no_grad():
        enc = EncoderGraph(model, names["encoder_outputs"])(src, lengths)
    step_in = dict(zip(names["encoder_outputs"], enc))
    step_in["prev"] = step_in.pop("start")
    if "candidates" in names["step_inputs"]:
        step_in["candidates"] = torch.zeros(3)
    encoder, step = _session(directory / ENCODER_FILE), _session(directory / STEP_FILE)
    got_enc = encoder.run(None, {"src": src.numpy(), "src_lengths": lengths.numpy()})
    feeds = dict(zip(names["encoder_outputs"], got_enc))
    feeds["prev"] = feeds.pop("start")
    if "candidates" in names["step_inputs"]:
        feeds["candidates"] = step_in["candidates"].numpy()
    pairs = list(zip(got_enc, enc))
    for _ in range(CHECK_STEPS):  # the same first input each step: what matters is the state
        with torch.no_grad():
            ref = step_graph(*[step_in[n] for n in names["step_inputs"]])
        got = step.run(None, {n: feeds[n] for n in names["step_inputs"]})
        pairs += list(zip(got, ref))
        for name, a, b in zip(names["step_outputs"], got, ref):
            if name.startswith("state."):
                feeds[name], step_in[name] = a, b
    worst = 0.0
    for a, b in pairs:
        if a.shape != tuple(b.shape):
            raise ExportError(f"an exported graph gives shape {a.shape} where PyTorch gives {tuple(b.shape)}")
        if np.issubdtype(a.dtype, np.integer):
            continue  # the first input (constant) and top tokens, which near-ties may order either way
        if a.dtype != np.bool_:
            # Relative beyond magnitude 1: a log-probability of -30 (a copy model's mixture of tiny probabilities)
            # carries float32 rounding thirty times that of one near 0.
            want = b.detach().double().numpy()
            gap = np.abs(a.astype(np.float64) - want) / np.maximum(1.0, np.abs(want))
            worst = max(worst, float(gap.max(initial=0.0)))
        elif not np.array_equal(a, b.detach().numpy()):
            worst = float("inf")
    return worst


def export_onnx(source: str | Path | Bundle, out: str | Path, which: str = "best",
                quantize: str | None = None) -> Path:
    """Export a run directory's checkpoint (or a loaded Bundle) into the directory `out` (created or replaced
    whole, atomically); returns `out`. ExportError if the graphs disagree with PyTorch. quantize="int8": the
    float32 graphs, once checked, are quantized (see `quantize`)."""
    if quantize not in (None, *QUANTIZATIONS):
        raise ExportError(f"unknown ONNX quantization {quantize!r}; one of: {', '.join(QUANTIZATIONS)}")
    bundle = source if isinstance(source, Bundle) else load_bundle(source, which=which)
    model = bundle.model
    register()
    out = Path(out)
    with export_dir(bundle, out) as tmp:
        shape = bundle.config.model  # a listener's pyramid or a Transformer's convolutions shorten the source
        found = probe(model, 2 ** (shape.pyramid_layers + shape.subsample_layers))
        step = StepGraph(model, found.state_cls, found.memory_cls, found.step_inputs, found.step_outputs).eval()
        outputs = [NEXT + n if n.startswith("state.") else n for n in found.step_outputs]
        axes = {**found.axes, **{NEXT + n: found.axes[n] for n in found.step_outputs if n.startswith("state.")}}
        _export(step, found.step_example, tmp / STEP_FILE, found.step_inputs, outputs, axes)
        # The exporter drops inputs the step never reads (the encoder outputs without attention): the encoder
        # graph then leaves them out too, and the engine never carries them.
        used = _graph_inputs(tmp / STEP_FILE)
        names = {"encoder_outputs": [n for n in found.encoder_outputs if n == "start" or n in used],
                 "step_inputs": [n for n in found.step_inputs if n in used], "step_outputs": found.step_outputs}
        _export(EncoderGraph(model, names["encoder_outputs"]).eval(), found.encoder_inputs, tmp / ENCODER_FILE,
                ["src", "src_lengths"], names["encoder_outputs"], found.axes)
        worst = _check(tmp, model, names, found.state_cls, found.memory_cls)
        if not worst <= TOLERANCE:
            raise ExportError(f"the exported graphs differ from PyTorch by {worst:.3g} (more than {TOLERANCE}): "
                              f"this architecture does not export faithfully")
        quantized = None
        if quantize:
            for graph in (ENCODER_FILE, STEP_FILE):
                quantize_graph(tmp / graph, quantize)
            quantized = _check(tmp, model, names, found.state_cls, found.memory_cls)
            if not np.isfinite(quantized):
                raise ExportError(f"the {quantize} graphs give values PyTorch does not (difference {quantized})")
        _write_manifest(tmp, bundle, names, found.axes, worst, quantize, quantized)
    return out


def _write_manifest(directory: Path, bundle: Bundle, names: dict[str, list[str]], axes: dict[str, dict[int, str]],
                    worst: float, quantization: str | None, quantized: float | None) -> None:
    """export.json: what the engine needs besides the graphs and the sides' files."""
    batch_axis = {n: next(a for a, label in axes[n].items() if label == BATCH)
                  for n in names["step_inputs"] if n.startswith(("state.", "memory."))}
    manifest = {
        "format": "seq2seq-onnx", "format_version": FORMAT_VERSION, "opset": OPSET,
        "seq2seq_version": version("seq2seq"), "torch_version": torch.__version__,
        "config": bundle.config.to_dict(), "source_size": bundle.source.size, "target_size": bundle.target.size,
        "parameters": sum(p.numel() for p in bundle.model.parameters()),
        "encoder": {"file": ENCODER_FILE, "inputs": ["src", "src_lengths"], "outputs": names["encoder_outputs"]},
        "step": {"file": STEP_FILE, "inputs": names["step_inputs"],
                 "outputs": [NEXT + n if n.startswith("state.") else n for n in names["step_outputs"]]},
        "scores": "log_probs" if bundle.model.head.kind == "tokens" else "values",
        "batch_axis": batch_axis,
        "check_max_abs_diff": worst,
        "quantization": quantization,
    }
    if quantized is not None:  # the quantized graphs' largest difference to PyTorch on the same check
        manifest["quantized_max_abs_diff"] = quantized
    (directory / EXPORT_JSON).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
