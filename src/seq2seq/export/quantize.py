"""int8 graphs for the ONNX engine: onnxruntime's dynamic quantization (weights int8 per output channel,
activations quantized on the fly, row by row of each product; Jacob et al. 2018, "Quantization and Training
of Neural Networks for Efficient Integer-Arithmetic-Only Inference").

What is quantized: every MatMul whose second operand is a weight (MatMulInteger), and every LSTM node
(onnxruntime's DynamicQuantizeLSTM). torch's exporter writes a linear layer on a 2-D input as a Gemm, which
onnxruntime's dynamic quantizer leaves in float32, so each Gemm with a constant weight is first rewritten as
MatMul + Add (`gemm_to_matmul`). onnxruntime has no quantized GRU or RNN node: a recurrent decoder's step is
traced through its cell's equations (Gemms, so MatMuls here) whatever the cell, and quantizes; the encoder's
GRU/RNN nodes (one call per sentence) stay float32. Attention's products of two activations stay float32 too
(`MatMulConstBOnly`).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

QUANTIZATIONS = ("int8",)
QUANTIZED_OPS = ["MatMul", "LSTM"]


def _attributes(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def gemm_to_matmul(model: onnx.ModelProto) -> int:
    """Rewrite each Gemm of an activation by a constant weight (alpha = beta = 1, no transposed A) as MatMul by
    the weight laid out (in, out), then Add of the bias; returns how many were rewritten."""
    graph = model.graph
    weights = {i.name: i for i in graph.initializer}
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    nodes, rewritten = [], 0
    for node in graph.node:
        a = _attributes(node) if node.op_type == "Gemm" else {}
        if (node.op_type != "Gemm" or node.input[1] not in weights or a.get("transA", 0)
                or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0):
            nodes.append(node)
            continue
        w = numpy_helper.to_array(weights[node.input[1]])
        w = np.ascontiguousarray(w.T if a.get("transB", 0) else w)
        name = f"{node.input[1]}.matmul{rewritten}"
        graph.initializer.append(numpy_helper.from_array(w, name))
        readers[node.input[1]] -= 1
        has_bias = len(node.input) > 2 and node.input[2] != ""
        product = f"{node.output[0]}.product" if has_bias else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], name], [product], name=f"{node.name}.MatMul"))
        if has_bias:
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]], name=f"{node.name}.Add"))
        rewritten += 1
    unread = [i for i in graph.initializer if readers.get(i.name, 1) == 0]
    for init in unread:  # a weight only the Gemm read (a tied embedding's is read by its Gather too)
        graph.initializer.remove(init)
    del graph.node[:]
    graph.node.extend(nodes)
    return rewritten


def fold_constants(path: Path, out: Path) -> None:
    """The graph with what depends only on weights computed once (onnxruntime's basic, provider-independent
    optimisations): the RNN nodes' weights, which the exporter leaves as Split/Concat of the parameters, become
    initializers, which the quantizer needs to see."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(out)
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def quantize_graph(path: Path, quantization: str) -> None:
    """Replace the ONNX graph at `path` by its dynamically quantized form (weights int8 per channel)."""
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"unknown ONNX quantization {quantization!r}; one of: {', '.join(QUANTIZATIONS)}")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="seq2seq-quantize-") as scratch:
        folded, matmuls = Path(scratch) / "folded.onnx", Path(scratch) / "matmul.onnx"
        fold_constants(path, folded)
        model = onnx.load(str(folded))
        gemm_to_matmul(model)
        onnx.save(model, str(matmuls))
        with _quiet_root_logger():
            quantize_dynamic(matmuls, path, weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=QUANTIZED_OPS, extra_options={"MatMulConstBOnly": True})


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """The quantizer logs advice on the root logger (to pre-process the graph for shape inference, which a
    dynamic quantization of constant weights does not need): kept off the user's terminal."""
    root = logging.getLogger()
    drop = logging.Filter("onnxruntime")  # passes only records of onnxruntime's own loggers
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)
