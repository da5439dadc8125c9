"""seq2seq: encoder-decoder RNN models, from the fixed context vector to attention."""

from importlib.metadata import version as _version
from typing import Any

from .config import PRESETS, Config, ConfigError, DecodeConfig
from .config.build import build_config
from .inference.load import load
from .inference.translator import Translation

__version__ = _version("seq2seq")
__all__ = ["PRESETS", "Config", "ConfigError", "DecodeConfig", "Model", "Score", "Seq2Seq", "Translation",
           "build_config", "build_model", "load", "load_ensemble", "train"]


def __getattr__(name: str) -> Any:
    """The PyTorch parts load on first use, so that `import seq2seq` and the ONNX engine work without torch."""
    if name in ("Model", "Score", "load_ensemble"):
        from .inference import model

        return getattr(model, name)
    if name in ("Seq2Seq", "build_model"):
        from . import models

        return getattr(models, name)
    if name == "train":
        from .training import train

        return train
    raise AttributeError(f"module 'seq2seq' has no attribute {name!r}")
