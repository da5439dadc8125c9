"""One trainer per run: an exclusive advisory lock on `RUN/train.lock`, held for the trainer's whole life.

The lock is the operating system's (`fcntl.flock` on POSIX, `msvcrt.locking` on Windows): it belongs to the open
file, so it goes away with the process however that ends (exit, kill -9, out of memory, a power cut) and a
lock is never left stale. The file itself stays and says who held it last (PID, host, start time), which is
what a refused second trainer reports. Readers (translate, eval, serve, export, average, check) take no lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path
from typing import IO, Any

from .atomic import refused_as
from .directory import CheckpointError

LOCK_FILE = "train.lock"
# msvcrt.locking locks a byte range: one byte far beyond the holder's note, so the note stays readable.
_WINDOWS_OFFSET = 1 << 30

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


class RunLocked(CheckpointError):
    """Another trainer holds the run; the message names the run, the holder and what to do."""


def _try_lock(f: IO[Any]) -> bool:
    """Take the exclusive lock on an open file without waiting; False when another process holds it."""
    if fcntl is not None:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    import msvcrt

    f.seek(_WINDOWS_OFFSET)
    try:
        msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    finally:
        f.seek(0)
    return True


def holder(run_dir: str | Path) -> dict[str, Any] | None:
    """The note the current or last holder of a run's lock wrote (pid, host, started), or None."""
    try:
        note = json.loads((Path(run_dir) / LOCK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return note if isinstance(note, dict) else None


def describe(note: dict[str, Any] | None) -> str:
    """`PID 123 on host, since 2026-12-07 12:00:00` (or that the holder did not say)."""
    if not note:
        return "a process that has not written its note yet"
    return f"PID {note.get('pid', '?')} on {note.get('host', '?')}, since {note.get('started', '?')}"


def live_holder(run_dir: str | Path) -> dict[str, Any] | None:
    """The note of a trainer that holds the run now, as far as a reader can tell without touching the lock
    (which a reader never takes, even for an instant): its note names a live process of this host."""
    note = holder(run_dir)
    if not note or note.get("host") != socket.gethostname() or not isinstance(note.get("pid"), int):
        return None
    try:
        os.kill(note["pid"], 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    return note


class RunLock:
    """The exclusive lock of one run directory; `release()` (or the end of the process) gives it back."""

    def __init__(self, run_dir: str | Path):
        """Take the lock of `run_dir` (which must exist) at once, or raise RunLocked naming the holder."""
        self.run = Path(run_dir)
        path = self.run / LOCK_FILE
        with refused_as(f"the lock file {path}", f"Nothing in {self.run} was changed",
                        "train again (or train into another --out)"):
            f = open(path, "a+b")  # noqa: SIM115 (held open for the trainer's life: the lock lives with it)
        if not _try_lock(f):
            f.close()
            raise RunLocked(f"{self.run}: another trainer is training this run ({describe(holder(self.run))}); "
                            f"wait for it to finish or stop it (Ctrl-C, kill PID), then resume with "
                            f"`seq2seq train --out {self.run} --resume`, or train into another --out")
        self.file: IO[Any] | None = f
        note = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
        # The note is rewritten in place: only the holder writes it, and a reader reads it only when refused. It
        # only informs, so a full disk costs the note, not the run (the lock is held either way).
        with contextlib.suppress(OSError):
            f.seek(0)
            f.truncate()
            f.write((json.dumps(note) + "\n").encode("utf-8"))
            f.flush()

    def release(self) -> None:
        """Give the lock back (closing the file releases it); again: nothing."""
        if self.file is not None:
            self.file.close()
            self.file = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def is_run(path: Path) -> bool:
    """Whether `path` holds a run (its config.yaml or checkpoints/), which a trainer must lock before reading."""
    return (path / "config.yaml").is_file() or (path / "checkpoints").is_dir()


def claim_run(run_dir: Path, lock: RunLock | None = None) -> tuple[RunLock | None, str | None]:
    """The lock a trainer of `run_dir` holds, taken by the single process or torchrun's rank 0 (the run directory
    created when new); under torchrun a refusal is returned, for rank 0 to tell the others, instead of raised.
    (None, None) for the other ranks; a caller's `lock` as it is."""
    if lock is not None or int(os.environ.get("RANK", "0")) != 0:
        return lock, None
    if not run_dir.is_dir():
        from .checkpoint import make_run_dir  # torch only here: a trainer imports it anyway

        make_run_dir(run_dir)
    try:
        return RunLock(run_dir), None
    except RunLocked as e:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            return None, str(e)
        raise
