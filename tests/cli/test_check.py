"""`seq2seq check RUN`: one line per checkpoint (verified, damaged, without checksums), the links, leftovers and
metrics.jsonl; exit 5 when a file is damaged, which loading refuses with the same status."""

import shutil
from pathlib import Path

from seq2seq.cli import main

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "v1" / "tokens"


def test_check_reports_every_checkpoint_and_a_damaged_one_exits_5(make_run, capsys, tmp_path):
    run = make_run(steps=(1, 2))
    (run / "metrics.jsonl").write_text('{"step": 1}\n{"step": 2}\n')
    assert main(["check", str(run)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{run}: no trainer holds it",
        "step-000000001: ok, 6 files verified",
        "step-000000002 <- last, best: ok, 6 files verified",
        "metrics.jsonl: 2 evaluations, steps 1..2 in order",
        "2 checkpoint(s), none damaged"]
    weights = run / "checkpoints" / "step-000000001" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x80
    weights.write_bytes(bytes(data))
    (run / "checkpoints" / ".tmp-abc").mkdir()
    assert main(["check", str(run)]) == 5
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == ".tmp-abc: leftover of an interrupted checkpoint write (safe to remove)"
    assert lines[2].startswith(f"step-000000001: DAMAGED: {weights}: damaged: its SHA-256 ")
    assert lines[-1] == "2 checkpoint(s), 1 damaged"
    # loading it is refused with the same status, by name, in one line
    assert main(["average", str(run), "--steps", "1,2", "--out", str(tmp_path / "avg")]) == 5
    err = capsys.readouterr().err
    assert err.startswith(f"seq2seq: error: {weights}: damaged") and err.count("\n") == 1
    assert not (tmp_path / "avg").exists()


def test_check_tells_old_checkpoints_dangling_links_and_no_run(tmp_path, capsys):
    run = shutil.copytree(V1, tmp_path / "v1", symlinks=True)
    assert main(["check", str(run)]) == 0
    out = capsys.readouterr().out
    assert "not verified: no SHA256SUMS (written by an earlier seq2seq); it loads as before" in out
    (run / "checkpoints" / "best").unlink()
    (run / "checkpoints" / "best").symlink_to("step-000000099")
    assert main(["check", str(run)]) == 5
    assert "best -> step-000000099: dangling link (the folder is gone)" in capsys.readouterr().out
    assert main(["check", str(tmp_path / "nothing")]) == 2
    assert capsys.readouterr().err == f"seq2seq: error: {tmp_path / 'nothing'}: no such run directory\n"
