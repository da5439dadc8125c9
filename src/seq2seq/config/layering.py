"""Layering: defaults, a built-in task's own settings, a preset, a YAML file, then `key=value` overrides."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .fields import ConfigError
from .presets import PRESETS
from .schema import Config
from .validation import check_required, validate
from .yaml_io import read_yaml

# A task name -> (its default settings, the settings it cannot work without), or None for no such task.
TaskDefaults = Callable[[str], "tuple[dict[str, Any], dict[str, Any]] | None"]


def layered_config(preset: str | None = None, yaml_file: str | Path | None = None,
                   overrides: list[str] | dict[str, Any] | None = None, *,
                   task_defaults: TaskDefaults | None = None, base: Config | None = None) -> Config:
    """The layering under `build_config`, with the tasks given: defaults, then the task's own settings
    (`task_defaults(data.task)`, none without it), then a preset, then a YAML file, then `key=value` overrides;
    validated. Each layer is applied once. With `base` (a run's config, to resume it) the layers go on top of
    that config instead of the defaults and the task's settings."""
    raw = read_yaml(yaml_file) if yaml_file is not None else None
    if raw is not None and preset is None and raw.get("preset") is not None:
        preset = raw["preset"]
        if not isinstance(preset, str) or preset not in PRESETS:
            raise ConfigError(f"{yaml_file}: unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
    items = list(overrides.items() if isinstance(overrides, dict) else (split_override(o) for o in overrides or []))
    cfg = copy.deepcopy(base) if base is not None else Config()
    task = _task_name(raw, items) or (base.data.task if base is not None else None)
    found = task_defaults(task) if task is not None and task_defaults is not None else None
    if found is not None and base is None:
        for key, value in found[0].items():
            cfg.set(key, value)
    if preset is not None:
        for key, value in PRESETS[preset][1].items():
            cfg.set(key, value)
        cfg.preset = preset
    if raw is not None:
        try:
            cfg.update(raw)
        except ConfigError as e:
            raise ConfigError(f"{yaml_file}: {e}") from None
    for key, value in items:
        cfg.set(key, value)
    if found is not None:
        check_required(cfg, found[1], f"data.task={task}")
    try:
        return validate(cfg)
    except ConfigError as e:
        if raw is None or items:
            raise
        # The file's values alone make the impossible combination: name the file.
        raise ConfigError(f"{yaml_file}: {e}") from None


def _task_name(raw: dict[str, Any] | None, items: list[tuple[str, Any]]) -> str | None:
    """The task the layers name (the last one wins); presets never name one."""
    task = None
    if raw is not None and isinstance(raw.get("data"), dict):
        task = raw["data"].get("task")
    for key, value in items:
        if key == "data.task":
            task = value
    return task if isinstance(task, str) and task.strip() else None


def split_override(item: str) -> tuple[str, str]:
    """`key=value` -> (key, value); ConfigError for anything else."""
    key, sep, value = item.partition("=")
    if not sep:
        raise ConfigError(f"--set {item!r}: expected key=value, e.g. model.attention=general")
    return key.strip(), value
