"""Whole-or-nothing writes: a file, a folder and an appended line appear whole or not at all, and a write the OS
refuses becomes one WriteRefused naming what, why, what is intact and how to go on."""

import errno
import os
import resource
import subprocess
import sys

import pytest
from safetensors import SafetensorError

from seq2seq.runs.atomic import (
    WriteRefused,
    append_line,
    atomic_dir,
    os_error,
    reason,
    refused_as,
    write_text,
)


def _limited(code: str, limit: int, *args: str) -> subprocess.CompletedProcess:
    """Run `code` in a child whose files may not grow past `limit` bytes (EFBIG beyond: Python ignores SIGXFSZ);
    a child, since the limit would hold for every file the test process writes, its log included."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))


REPORT = "import sys\ntry:\n    {}\nexcept OSError as e:\n    print(e.errno)\n"


def test_a_file_is_replaced_whole_and_a_refused_write_leaves_the_old_one_and_no_temporary(tmp_path):
    path = tmp_path / "config.yaml"
    write_text(path, "old\n")
    code = "from seq2seq.runs.atomic import write_bytes; write_bytes(sys.argv[1], b'x' * 5000)"
    assert _limited(REPORT.format(code), 1000, str(path)).stdout == f"{errno.EFBIG}\n"
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]
    write_text(path, "new\n")
    assert path.read_text() == "new\n"


def test_an_appended_line_is_cut_back_when_it_does_not_fit(tmp_path):
    path = tmp_path / "metrics.jsonl"
    append_line(path, '{"step": 1}')
    before = path.read_bytes()
    code = "from seq2seq.runs.atomic import append_line; append_line(sys.argv[1], '{\"step\": 2, \"valid_loss\": 1.0}')"
    assert _limited(REPORT.format(code), len(before) + 5, str(path)).stdout == f"{errno.EFBIG}\n"
    assert path.read_bytes() == before  # not a half line


def test_a_folder_appears_whole_or_not_at_all(tmp_path):
    out = tmp_path / "export"
    with atomic_dir(out) as tmp:
        (tmp / "a").write_text("1")
    assert (out / "a").read_text() == "1"
    with pytest.raises(OSError), atomic_dir(out) as tmp:
        (tmp / "b").write_text("2")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"] and (out / "a").is_file()


def test_a_refused_write_is_one_line_naming_what_why_what_is_intact_and_how_to_go_on():
    with pytest.raises(WriteRefused) as caught, refused_as("the checkpoint of step 7", lambda: "Step 5 is intact",
                                                           "resume"):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/run/checkpoints/.tmp-x/model.safetensors")
    assert str(caught.value) == ("could not write the checkpoint of step 7 (model.safetensors): No space left on "
                                 "device. Step 5 is intact. Free some space, then resume")
    # safetensors says it only in its message
    rust = SafetensorError("Error while serializing: I/O error: File too large (os error 27)")
    assert os_error(rust).errno == errno.EFBIG and reason(rust) == "File too large"
    with pytest.raises(WriteRefused, match=r"^could not write w: File too large\. "), \
            refused_as("w", "i", "r", also=(SafetensorError,)):
        raise rust
    with pytest.raises(SafetensorError), refused_as("w", "i", "r", also=(SafetensorError,)):
        raise SafetensorError("invalid header")  # not an OS error: left as it is
