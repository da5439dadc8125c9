"""The ONNX engine: exported models on onnxruntime and numpy, with greedy search, sampling and beam search -
the same algorithms and decoding options as the PyTorch path, importing no torch (`pip install seq2seq[onnx]`)."""

from .model import OnnxModel, load_exported

__all__ = ["OnnxModel", "load_exported"]
