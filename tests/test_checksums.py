"""Verified checkpoints: every file's SHA-256 is recorded when written, a flipped byte in any file is refused by
name, a missing file too, each file is hashed once per modification time, and checkpoints without checksums
(format 1) still load."""

import os
import shutil
from pathlib import Path

import pytest

from seq2seq.runs import checksums
from seq2seq.runs.bundle import load_bundle
from seq2seq.runs.checksums import SUMS_FILE, ChecksumError, file_sha256, read_sums, verify_checkpoint

V1 = Path(__file__).resolve().parent / "fixtures" / "v1" / "tokens"


def test_the_sums_match_sha256sum_and_cover_every_file(make_run):
    ckpt = (make_run() / "checkpoints" / "last").resolve()
    sums = read_sums(ckpt)
    assert sorted(sums) == sorted(p.name for p in ckpt.iterdir() if p.name != SUMS_FILE)
    assert all(file_sha256(ckpt / name) == digest for name, digest in sums.items())
    # coreutils' format: `sha256sum -c SHA256SUMS` checks a copy by hand
    assert (ckpt / SUMS_FILE).read_text().splitlines()[0] == f"{sums['model.json']}  model.json"


def test_a_flipped_byte_in_any_checkpoint_file_is_refused_naming_it(make_run, tmp_path):
    run = make_run()
    ckpt = (run / "checkpoints" / "last").resolve()
    names = sorted(read_sums(ckpt))
    assert {"model.safetensors", "model.json", "source.vocab.json", "target.vocab.json"} <= set(names)
    for name in names:
        copy = shutil.copytree(run, tmp_path / f"flipped-{name}", symlinks=True)
        path = (copy / "checkpoints" / "last").resolve() / name
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(ChecksumError, match=rf"{name}: damaged: its SHA-256 .* is not the one recorded in "
                                                rf"SHA256SUMS"):
            load_bundle(copy, "last")
    copy = shutil.copytree(run, tmp_path / "missing", symlinks=True)
    ((copy / "checkpoints" / "last").resolve() / "target.vocab.json").unlink()
    with pytest.raises(ChecksumError, match=r"target.vocab.json: missing \(listed in SHA256SUMS\)"):
        load_bundle(copy, "last")
    (copy / "checkpoints" / "last").resolve().joinpath(SUMS_FILE).write_text("not a line\n")
    with pytest.raises(ChecksumError, match=r"SHA256SUMS:1: not a `sha256sum` line"):
        load_bundle(copy, "last")


def test_each_file_version_is_hashed_once_even_across_processes(make_run, monkeypatch, tmp_path):
    monkeypatch.setenv("SEQ2SEQ_CACHE_DIR", str(tmp_path / "cache"))
    ckpt = (make_run() / "checkpoints" / "last").resolve()
    checksums.forget()
    hashed = []
    real = checksums.file_sha256
    monkeypatch.setattr(checksums, "file_sha256", lambda p: hashed.append(p.name) or real(p))
    assert verify_checkpoint(ckpt)
    count = len(hashed)
    assert count == len(read_sums(ckpt))
    verify_checkpoint(ckpt)
    checksums.forget()  # as a new process: what was found whole comes from the cache file
    verify_checkpoint(ckpt)
    assert len(hashed) == count
    assert (tmp_path / "cache" / "verified.json").is_file()
    st = (ckpt / "model.json").stat()
    os.utime(ckpt / "model.json", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a new version, same bytes
    verify_checkpoint(ckpt)
    assert hashed[count:] == ["model.json"]
    verify_checkpoint(ckpt, cached=False)  # what `seq2seq check` does: every file, every time
    assert len(hashed) == 2 * count + 1
    checksums.forget()
    (tmp_path / "cache" / "verified.json").write_text("not json")  # a damaged cache only costs hashing again
    verify_checkpoint(ckpt)
    assert len(hashed) == 3 * count + 1


def test_a_checkpoint_without_checksums_still_loads(tmp_path):
    run = shutil.copytree(V1, tmp_path / "v1", symlinks=True)
    assert not verify_checkpoint((run / "checkpoints" / "best").resolve())
    assert load_bundle(run).model is not None
