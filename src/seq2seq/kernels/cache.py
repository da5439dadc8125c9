"""The kernel probe's measurements, kept per machine in the user's cache directory as one JSON file.

`$XDG_CACHE_HOME/seq2seq/kernels.json` (else `~/.cache/seq2seq/kernels.json`): {"version": 1, "machines":
{fingerprint: {shape key: {"choice": name, "ms": {name: milliseconds}}}}}. The file is replaced whole (a
temporary file, then a rename); one that cannot be read or parsed is ignored and rewritten, one that cannot be
written costs only the next run's probe.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger("seq2seq")

VERSION = 1
MAX_MACHINES = 16  # fingerprints kept (a new torch or thread count makes a new one); the oldest go first
MAX_ENTRIES = 256  # shape classes kept per machine; the oldest go first


def cache_path() -> Path:
    """Where the measurements live: under XDG_CACHE_HOME when set, else ~/.cache."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "seq2seq" / "kernels.json"


def _empty() -> dict[str, Any]:
    return {"version": VERSION, "machines": {}}


def read_cache(path: Path | None = None) -> dict[str, Any]:
    """The whole cache; an empty one when the file is missing, unreadable, corrupt or of another version."""
    path = path or cache_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return _empty()
    except (OSError, ValueError) as e:
        log.debug("kernel cache %s unreadable (%s): measuring again", path, e)
        return _empty()
    if (not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("machines"), dict)
            or not all(isinstance(v, dict) for v in data["machines"].values())):
        return _empty()
    return data


def valid_entry(entry: Any, names: tuple[str, ...]) -> bool:
    """Whether a cached entry holds a choice among `names` and a time for each of them."""
    return (isinstance(entry, dict) and entry.get("choice") in names and isinstance(entry.get("ms"), dict)
            and all(isinstance(entry["ms"].get(n), (int, float)) for n in names))


def lookup(data: dict[str, Any], machine: str, key: str) -> Any:
    """The entry cached for a shape key on a machine, or None."""
    return data["machines"].get(machine, {}).get(key)


def store(data: dict[str, Any], machine: str, entries: dict[str, Any]) -> None:
    """Add entries for a machine, dropping the oldest beyond the caps."""
    machines = data["machines"]
    table = machines.pop(machine, {})
    table.update(entries)
    while len(table) > MAX_ENTRIES:
        table.pop(next(iter(table)))
    machines[machine] = table  # re-inserted: the most recently used machine is the last one
    while len(machines) > MAX_MACHINES:
        machines.pop(next(iter(machines)))


def write_cache(data: dict[str, Any], path: Path | None = None) -> bool:
    """Replace the cache file whole; False (and a debug line) when the OS refuses."""
    path = path or cache_path()
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".kernels-", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
        return True
    except OSError as e:
        log.debug("kernel cache %s not written (%s): the next run measures again", path, e)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        return False
