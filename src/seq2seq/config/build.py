"""`build_config`: a run's config from its layers, with a built-in task's own settings underneath them, and a
saved config read back. Not imported by `seq2seq.config` itself: the tasks live in `seq2seq.data`, which reads
configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..data.tasks import task_defaults
from .layering import layered_config
from .schema import Config


def build_config(preset: str | None = None, yaml_file: str | Path | None = None,
                 overrides: list[str] | dict[str, Any] | None = None, *, base: Config | None = None) -> Config:
    """Defaults, then a built-in task's own settings, then a preset, then a YAML file, then `key=value`
    overrides; validated. With `base` the layers go on top of that config (a run's, to resume it)."""
    return layered_config(preset, yaml_file, overrides, task_defaults=task_defaults, base=base)


def config_from_dict(saved: dict[str, Any]) -> Config:
    """A config written by `Config.to_dict` (a checkpoint's or an exported model's), rebuilt and validated."""
    cfg = build_config(overrides={f"{section}.{key}": value for section, values in saved.items()
                                  if isinstance(values, dict) for key, value in values.items()})
    cfg.preset = saved.get("preset")
    return cfg
