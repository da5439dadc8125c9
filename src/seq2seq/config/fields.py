"""Config fields: how a key declares its help, choices and bounds, and how a raw value becomes a typed one."""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from dataclasses import field
from typing import Any

import yaml


class ConfigError(ValueError):
    """A config key or value that cannot be used; the message names the key."""


def choice(*values: str, aliases: dict[str, str] | None = None, help: str = "") -> Any:
    """A field whose value is one of `values` (the first is the default); `aliases` map other names onto them."""
    return field(default=values[0], metadata={"choices": values, "aliases": aliases or {}, "help": help})


def option(default: Any, help: str = "", low: float | None = None, high: float | None = None) -> Any:
    """A typed field with its help text and optional inclusive bounds."""
    return field(default=default, metadata={"help": help, "low": low, "high": high})


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def field_type(cls: type, name: str) -> tuple[type, bool]:
    """The base type of a dataclass field and whether it may be None (`int | None` -> (int, True))."""
    hint = _hints(cls)[name]
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint)
    return base, optional


def coerce(key: str, cls: type, f: dataclasses.Field, value: Any) -> Any:
    """`value` (a typed value, or a string from the command line parsed as a YAML scalar) as the field's
    type, checked against its choices and bounds; ConfigError naming `key` otherwise."""
    base, optional = field_type(cls, f.name)
    if isinstance(value, str) and base is not str:
        try:
            value = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError as e:
            raise ConfigError(f"{key}: cannot parse value {value!r}: {' '.join(str(e).split())}") from None
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{key} may not be empty")
    meta = f.metadata
    if meta.get("choices"):
        return _choice(key, meta, value)
    if base is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if base is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
    elif base is float:
        if isinstance(value, str):
            # YAML 1.1 reads `1e-3` (no dot) as a string; Python reads it as the number it means.
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
    elif base is str:
        value = str(value)
    low, high = meta.get("low"), meta.get("high")
    if low is not None and value < low:
        raise ConfigError(f"{key}: {value!r} is below the minimum {low}")
    if high is not None and value > high:
        raise ConfigError(f"{key}: {value!r} is above the maximum {high}")
    return value


def _choice(key: str, meta: Any, value: Any) -> str:
    allowed = ", ".join(meta["choices"])
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected one of {allowed}, got {type(value).__name__} {value!r}")
    text = meta["aliases"].get(value.lower(), value.lower())
    if text not in meta["choices"]:
        aliases = f" (aliases: {', '.join(meta['aliases'])})" if meta["aliases"] else ""
        raise ConfigError(f"{key}: bad value {value!r}; allowed values: {allowed}{aliases}")
    return text
