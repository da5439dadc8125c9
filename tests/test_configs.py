"""The shipped configs and the config schema stay honest: each checked-in YAML is what `seq2seq config` writes
for it, and every config key is read somewhere outside the config package."""

import ast
import dataclasses
from pathlib import Path

import pytest

from seq2seq import build_config
from seq2seq.config import SECTIONS, commented_yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_checked_in_config_is_what_seq2seq_config_writes(path):
    assert commented_yaml(build_config(yaml_file=path)) == path.read_text(encoding="utf-8"), (
        f"regenerate with: seq2seq config --config {path.relative_to(ROOT)} > {path.relative_to(ROOT)}")


def _attributes_read_outside_config() -> set[str]:
    """Names read as `obj.name` (not called as methods) anywhere in the package but its config modules."""
    package = ROOT / "src" / "seq2seq"
    names = set()
    for path in package.rglob("*.py"):
        if path.relative_to(package).parts[0] == "config":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and id(n) not in called}
    return names


def test_every_config_key_is_read_by_some_code_path():
    read = _attributes_read_outside_config()
    unread = [f"{section}.{f.name}" for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)
              if f.name not in read]
    assert not unread, f"config keys nothing reads: {unread}"
