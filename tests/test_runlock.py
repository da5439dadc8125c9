"""One trainer per run: the lock is refused to a second process naming the holder and the remedy, and vanishes
with its holder (even after SIGKILL); the Windows path (msvcrt.locking) behaves the same."""

import json
import os
import signal
import socket
import subprocess
import sys
import types

import pytest

from seq2seq.runs import lock as runlock
from seq2seq.runs.lock import LOCK_FILE, RunLock, RunLocked, holder, live_holder

HOLD = "import sys, time; from seq2seq.runs.lock import RunLock; lock = RunLock(sys.argv[1]); " \
       "print('held', flush=True); time.sleep(60)"


def test_a_second_holder_is_refused_naming_the_first_until_it_dies(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "held\n"
        note = live_holder(tmp_path)
        assert note["pid"] == child.pid and note["host"] == socket.gethostname()
        with pytest.raises(RunLocked) as caught:
            RunLock(tmp_path)
        assert str(caught.value) == (
            f"{tmp_path}: another trainer is training this run (PID {child.pid} on {note['host']}, since "
            f"{note['started']}); wait for it to finish or stop it (Ctrl-C, kill PID), then resume with "
            f"`seq2seq train --out {tmp_path} --resume`, or train into another --out")
    finally:
        child.send_signal(signal.SIGKILL)  # no clean-up runs: the lock still goes with the process
        child.wait()
    assert live_holder(tmp_path) is None  # the note of a process that is gone
    with RunLock(tmp_path) as lock:
        assert holder(tmp_path)["pid"] == os.getpid()
        assert lock.file is not None


def test_the_windows_lock_takes_a_byte_beyond_the_note(tmp_path, monkeypatch):
    held: dict[str, int] = {}

    def locking(fd, mode, count):  # msvcrt.locking's contract: LK_NBLCK fails at once on a locked range
        key = os.path.realpath(f"/proc/self/fd/{fd}")
        position = os.lseek(fd, 0, os.SEEK_CUR)
        if mode == fake.LK_NBLCK:
            if key in held:
                raise OSError(36, "Resource deadlock avoided")
            held[key] = position

    fake = types.SimpleNamespace(LK_NBLCK=2, locking=locking)
    monkeypatch.setattr(runlock, "fcntl", None)
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    first = RunLock(tmp_path)
    assert held == {str((tmp_path / LOCK_FILE).resolve()): runlock._WINDOWS_OFFSET}
    with pytest.raises(RunLocked, match=rf"PID {os.getpid()} on "):
        RunLock(tmp_path)
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()  # the note stays readable
    first.release()
