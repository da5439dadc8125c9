"""Typed, validated configuration: schema, validation, presets, layering and YAML, one concept per module;
`config.build.build_config` (also `seq2seq.build_config`) builds a run's config."""

from .fields import ConfigError
from .presets import PRESETS
from .schema import SECTIONS, Config, DataConfig, DecodeConfig, ModelConfig, TrainConfig
from .validation import check_decode, validate
from .yaml_io import commented_yaml, describe_keys, read_yaml, save, to_yaml

__all__ = ["PRESETS", "SECTIONS", "Config", "ConfigError", "DataConfig", "DecodeConfig", "ModelConfig",
           "TrainConfig", "check_decode", "commented_yaml", "describe_keys", "read_yaml", "save", "to_yaml",
           "validate"]
