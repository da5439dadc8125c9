"""Config files: reading a YAML config, and writing the resolved config as (commented) YAML."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from ..runs.atomic import write_text
from .fields import ConfigError
from .schema import FORMAT_VERSION, SECTIONS, Config


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A config file's mapping of sections, its format version checked; ConfigError naming the file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read config: {' '.join(str(e).split())}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of sections")
    version = raw.get("version", FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
        raise ConfigError(f"{path}: config format version {version!r} is newer than this seq2seq "
                          f"understands ({FORMAT_VERSION}); upgrade seq2seq")
    return raw


def to_yaml(cfg: Config) -> str:
    """The config as plain YAML."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, allow_unicode=True)


def save(cfg: Config, path: str | Path) -> None:
    """Write the config as plain YAML, whole or not at all (a kill or a refused write leaves the previous file)."""
    write_text(path, to_yaml(cfg))


def describe_keys() -> list[tuple[str, Any, str]]:
    """(key, default, help) for every config key, for docs and `--help`."""
    out = []
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            choices = f.metadata.get("choices")
            extra = f" (one of: {', '.join(choices)})" if choices else ""
            out.append((f"{section}.{f.name}", f.default, f.metadata.get("help", "") + extra))
    return out


def commented_yaml(cfg: Config) -> str:
    """The config as YAML with each key's meaning and allowed values as a comment."""
    helps = {k: h for k, _, h in describe_keys()}
    preset = yaml.safe_dump(cfg.preset).split("\n")[0]
    lines = [f"# seq2seq config (format version {cfg.version})", f"preset: {preset}"]
    for section in SECTIONS:
        lines.append(f"{section}:")
        for name, value in dataclasses.asdict(getattr(cfg, section)).items():
            text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True)
            text = text.strip().removesuffix("...").strip()
            lines.append(f"  {name}: {text}".ljust(40) + f"  # {helps[f'{section}.{name}']}")
    return "\n".join(lines) + "\n"
