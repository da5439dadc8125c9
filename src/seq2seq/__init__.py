"""seq2seq: encoder-decoder RNN models, from the fixed context vector to attention."""

from importlib.metadata import version as _version

from .api import Model, Translation, load
from .config import PRESETS, Config, ConfigError, DecodeConfig
from .configure import build_config
from .models import Seq2Seq, build_model
from .training import train

__version__ = _version("seq2seq")
__all__ = ["PRESETS", "Config", "ConfigError", "DecodeConfig", "Model", "Seq2Seq", "Translation", "build_config",
           "build_model", "load", "train"]
