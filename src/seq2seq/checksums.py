"""Checkpoint checksums: the SHA-256 of every file of a checkpoint, written beside them as `SHA256SUMS` (the
format of coreutils' `sha256sum`, so `sha256sum -c SHA256SUMS` checks a copy by hand), and verified on loading,
so a damaged file (a flipped byte, a truncated copy) is refused by name instead of loaded as wrong weights.

A file is hashed once per process for each (inode, size, modification time): a model loaded again (an ensemble,
`average`, a resumed run) is not read twice for it. Checkpoints written before checksums (no SHA256SUMS) load as
before, unverified.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .atomic import write_text
from .rundir import CheckpointError

SUMS_FILE = "SHA256SUMS"
_CHUNK = 1 << 20
# (path, device, inode, size, mtime in ns) -> the SHA-256 found for it in this process.
_verified: dict[tuple[str, int, int, int, int], str] = {}


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


def _key(path: Path) -> tuple[str, int, int, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def verify_file(path: Path, expected: str) -> None:
    """ChecksumError naming `path` unless its SHA-256 is `expected` (hashed once per modification time)."""
    try:
        key = _key(path)
    except FileNotFoundError:
        raise ChecksumError(f"{path}: missing (listed in {SUMS_FILE}); the checkpoint is incomplete") from None
    if _verified.get(key) == expected:
        return
    try:
        found = file_sha256(path)
    except OSError as e:
        raise ChecksumError(f"{path}: unreadable ({e.strerror or e})") from None
    if found != expected:
        raise ChecksumError(f"{path}: damaged: its SHA-256 ({found[:12]}...) is not the one recorded in "
                            f"{SUMS_FILE} when it was written ({expected[:12]}...); load another checkpoint "
                            f"(`seq2seq check {_run_of(path)}` lists them) or restore the file from a copy")
    _verified[key] = expected


def verify_checkpoint(directory: Path) -> bool:
    """Verify every file SHA256SUMS lists in a checkpoint directory (ChecksumError naming the first damaged or
    missing one); False when the checkpoint has no checksums to verify (written by an earlier seq2seq)."""
    sums = read_sums(directory)
    if sums is None:
        return False
    for name, digest in sums.items():
        verify_file(directory / name, digest)
    return True


def _run_of(path: Path) -> str:
    """The run directory of a checkpoint file (…/RUN/checkpoints/step-N/file), for the remedy's command."""
    parts = path.parent.parent
    return str(parts.parent) if parts.name == "checkpoints" else str(path.parent)


def forget() -> None:
    """Drop what this process has verified (tests; a file rewritten within one mtime tick)."""
    _verified.clear()

