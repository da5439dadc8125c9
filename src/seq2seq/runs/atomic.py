"""Files that appear whole or not at all, and the one error for a write the operating system refuses.

Every file the program writes goes through a temporary name beside its final one and a rename (atomic on one
file system), so a kill, a crash or a full disk leaves either the previous file or the new one, never a half.
A write the OS refuses (No space left on device, File too large, Permission denied, Read-only file system,
Disk quota exceeded...) becomes a `WriteRefused`: one line saying what could not be written, the OS's reason,
what is still intact and how to go on, which the command line prints without a traceback and with its own exit
status (see docs/guides/run-directory.md). Kept free of torch, so any writer (data shards, exports) can use it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

# Libraries written in Rust (safetensors) report an OS error only inside their message: "... (os error 28)".
_OS_ERROR = re.compile(r"os error (\d+)")


# What to do first, by the OS's reason; the writer adds how to go on after it.
FIXES = {errno.ENOSPC: "Free some space", errno.EDQUOT: "Free some space or raise the quota",
         errno.EFBIG: "Raise the file-size limit (ulimit -f)", errno.EACCES: "Make the folder writable",
         errno.EPERM: "Make the folder writable", errno.EROFS: "Remount the file system writable"}


class WriteRefused(RuntimeError):
    """The OS refused a write; the message names what, why, what is still intact and how to go on."""

    def __init__(self, what: str, reason: str, intact: str, remedy: str, code: int | None = None):
        fix = FIXES.get(code or 0, "Remove the cause")
        super().__init__(f"could not write {what}: {reason}. {intact}. {fix}, then {remedy}")
        self.what, self.reason, self.intact, self.remedy, self.errno = what, reason, intact, remedy, code


def os_error(exc: BaseException) -> OSError | None:
    """The OSError behind `exc`: itself, or one a library named in its message ("os error 28"); else None."""
    if isinstance(exc, OSError):
        return exc
    found = _OS_ERROR.search(str(exc))
    if found is None:
        return None
    code = int(found.group(1))
    return OSError(code, os.strerror(code))


def reason(exc: BaseException) -> str:
    """The OS's reason for a refused write, as `strerror` (e.g. `No space left on device`)."""
    err = os_error(exc)
    if err is not None and err.strerror:
        return err.strerror
    return str(exc) or type(exc).__name__


@contextlib.contextmanager
def refused_as(what: str, intact: str | Callable[[], str], remedy: str,
               also: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Turn an OSError (or one of `also` that carries an OS error, e.g. SafetensorError) raised inside into a
    WriteRefused naming `what`, `intact` (a string, or a function giving one once the failure is known) and
    `remedy` (what to do once the cause is fixed: "then <remedy>")."""
    try:
        yield
    except (OSError, *also) as e:
        err = os_error(e)
        if err is None:
            raise
        name = Path(str(err.filename or "")).name
        if name and not name.startswith(".") and name not in what:  # a temporary name would say nothing
            what = f"{what} ({name})"
        raise WriteRefused(what, reason(e), intact() if callable(intact) else intact, remedy, err.errno) from None


def remove_quietly(path: Path) -> None:
    """Remove a file or a folder left by a failed write, ignoring what is already gone."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def fsync_path(path: Path) -> None:
    """Flush a file or a directory (its entries: a rename) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.EBADF):  # some file systems cannot fsync a directory
            raise
    finally:
        os.close(fd)


def current_umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` to write; renamed over `path` when the block ends, removed when it fails."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.chmod(0o666 & ~current_umask())  # mkstemp makes 0600; give the user's usual mode
        fsync_path(tmp)
        os.replace(tmp, path)
    except OSError as e:
        remove_quietly(tmp)
        raise OSError(e.errno, e.strerror, str(path)) from None  # named by the file it was to become
    except BaseException:
        remove_quietly(tmp)
        raise


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write `path` whole or not at all."""
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def write_text(path: str | Path, text: str) -> None:
    """Write `path` as UTF-8, whole or not at all."""
    write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """A temporary folder beside `path` to fill; it replaces `path` (a folder, removed first) when the block
    ends, and is removed when the block fails."""
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        tmp.chmod(0o777 & ~current_umask())
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise


def append_line(path: str | Path, line: str) -> None:
    """Append one line to a log file, whole or not at all: a refused write is cut back to the previous end."""
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        end = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:  # a short write is followed by the OS's reason on the next
                view = view[os.write(fd, view):]
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, end)
            raise
    finally:
        os.close(fd)
