"""Export to ONNX: a trained model as an encoder graph and a decoder-step graph the ONNX engine runs."""

from .onnx_export import ExportError, export_onnx

__all__ = ["ExportError", "export_onnx"]
