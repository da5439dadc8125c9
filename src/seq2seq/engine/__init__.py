"""The ONNX engine: exported models on onnxruntime and numpy, decoded by the searches of `seq2seq.search` - the
same code and decoding options as the PyTorch path - importing no torch (`pip install seq2seq[onnx]`)."""

from .model import OnnxModel, load_exported

__all__ = ["OnnxModel", "load_exported"]
