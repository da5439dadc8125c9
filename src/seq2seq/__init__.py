"""seq2seq: encoder-decoder RNN models, from the fixed context vector to attention."""

from .api import Model, Score, Translation, load, load_ensemble
from .config import PRESETS, Config, ConfigError, DecodeConfig
from .configure import build_config
from .models import Seq2Seq, build_model
from .training import train

__version__ = "0.1.0"
__all__ = ["PRESETS", "Config", "ConfigError", "DecodeConfig", "Model", "Score", "Seq2Seq", "Translation",
           "build_config", "build_model", "load", "load_ensemble", "train"]
