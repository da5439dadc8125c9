"""A run's config: the layers of `seq2seq.config` with a built-in task's own settings underneath them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import Config
from .config import build_config as layered
from .data.tasks import task_defaults


def build_config(preset: str | None = None, yaml_file: str | Path | None = None,
                 overrides: list[str] | dict[str, Any] | None = None, *, base: Config | None = None) -> Config:
    """Defaults, then a built-in task's own settings, then a preset, then a YAML file, then `key=value`
    overrides; validated. With `base` the layers go on top of that config (a run's, to resume it)."""
    return layered(preset, yaml_file, overrides, task_defaults=task_defaults, base=base)
