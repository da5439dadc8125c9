"""Checkpoint checksums: the SHA-256 of every file of a checkpoint, written beside them as `SHA256SUMS` (the
format of coreutils' `sha256sum`, so `sha256sum -c SHA256SUMS` checks a copy by hand), and verified on loading,
so a damaged file (a flipped byte, a truncated copy) is refused by name instead of loaded as wrong weights.

Hashing adds about a third to loading a large model (docs/guides/run-directory.md), so a version of a file (its
inode, size, modification and change times) found whole is remembered, in the process and in a small cache file
in the user's cache directory, and not hashed again: a model translated from again and again is hashed once, a
copied, rewritten or replaced file again. `seq2seq check` always hashes everything. Checkpoints written before
checksums (no SHA256SUMS) load as before, unverified.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from .atomic import write_text
from .directory import CheckpointError

SUMS_FILE = "SHA256SUMS"
CACHE_NAME = "verified.json"
CACHE_ENTRIES = 10_000  # file versions remembered (about 1.5 MB of JSON)
_CHUNK = 1 << 20
# A file version's key (see _key) -> the SHA-256 it was found to have; filled from the cache file once.
_verified: dict[str, str] = {}
_loaded: list[bool] = []


class ChecksumError(CheckpointError):
    """A checkpoint file whose content differs from the SHA-256 recorded when it was written; names the file."""


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, as 64 hexadecimal digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_sums(directory: Path) -> None:
    """Record the SHA-256 of every file of `directory` (but SHA256SUMS itself) in its SHA256SUMS."""
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.name != SUMS_FILE)
    write_text(directory / SUMS_FILE, "".join(f"{file_sha256(p)}  {p.name}\n" for p in files))


def read_sums(directory: Path) -> dict[str, str] | None:
    """File name -> recorded SHA-256 of a checkpoint directory; None when it has no SHA256SUMS (older format)."""
    path = directory / SUMS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise ChecksumError(f"{path}: unreadable ({e})") from None
    sums = {}
    for number, line in enumerate(text.splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name or "/" in name or name in (".", ".."):
            raise ChecksumError(f"{path}:{number}: not a `sha256sum` line (HEX  NAME); the file is damaged")
        sums[name] = digest.lower()
    return sums


def _key(path: Path) -> str:
    """What identifies one version of a file: its path, device, inode, size and change times."""
    st = path.stat()
    return f"{path.resolve()}|{st.st_dev}|{st.st_ino}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}"


def cache_file() -> Path:
    """Where the versions of files found whole are remembered between processes: SEQ2SEQ_CACHE_DIR, else the
    user's cache directory (XDG_CACHE_HOME, ~/.cache), `seq2seq/verified.json`."""
    root = os.environ.get("SEQ2SEQ_CACHE_DIR")
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "seq2seq")
    return Path(root) / CACHE_NAME


def _cached() -> dict[str, str]:
    """This process's verified versions, read once from the cache file (anything unreadable: nothing)."""
    if not _loaded:
        _loaded.append(True)
        try:
            saved = json.loads(cache_file().read_text(encoding="utf-8"))
            _verified.update({k: v for k, v in saved.items() if isinstance(k, str) and isinstance(v, str)})
        except (OSError, ValueError, AttributeError):
            pass
    return _verified


def _remember(found: dict[str, str]) -> None:
    """Add versions found whole to the cache file (merged with what other processes added; the newest
    CACHE_ENTRIES kept). A cache that cannot be written only costs hashing again."""
    path = cache_file()
    with contextlib.suppress(OSError, ValueError, AttributeError):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = {}
        saved.update(found)
        write_text(path, json.dumps(dict(list(saved.items())[-CACHE_ENTRIES:])))


def verify_file(path: Path, expected: str, cached: bool = True) -> str | None:
    """ChecksumError naming `path` unless its SHA-256 is `expected`; the version's key when it was hashed now
    (None when `cached` and this version of the file was found whole before)."""
    try:
        key = _key(path)
    except FileNotFoundError:
        raise ChecksumError(f"{path}: missing (listed in {SUMS_FILE}); the checkpoint is incomplete") from None
    if cached and _cached().get(key) == expected:
        return None
    try:
        found = file_sha256(path)
    except OSError as e:
        raise ChecksumError(f"{path}: unreadable ({e.strerror or e})") from None
    if found != expected:
        raise ChecksumError(f"{path}: damaged: its SHA-256 ({found[:12]}...) is not the one recorded in "
                            f"{SUMS_FILE} when it was written ({expected[:12]}...); load another checkpoint "
                            f"(`seq2seq check {_run_of(path)}` lists them) or restore the file from a copy")
    _verified[key] = expected
    return key


def verify_checkpoint(directory: Path, cached: bool = True) -> bool:
    """Verify every file SHA256SUMS lists in a checkpoint directory (ChecksumError naming the first damaged or
    missing one); False when the checkpoint has no checksums to verify (written by an earlier seq2seq).

    cached: skip a file whose same version (path, inode, size, modification and change time) was found whole
    before, in this process or another (the cache file); `seq2seq check` hashes every file every time."""
    sums = read_sums(directory)
    if sums is None:
        return False
    hashed = [verify_file(directory / name, digest, cached) for name, digest in sums.items()]
    if cached and any(hashed):
        _remember({key: _verified[key] for key in hashed if key})
    return True


def _run_of(path: Path) -> str:
    """The run directory of a checkpoint file (…/RUN/checkpoints/step-N/file), for the remedy's command."""
    parts = path.parent.parent
    return str(parts.parent) if parts.name == "checkpoints" else str(path.parent)


def forget() -> None:
    """Drop what this process has verified and read from the cache file (the next check reads it again)."""
    _verified.clear()
    _loaded.clear()

