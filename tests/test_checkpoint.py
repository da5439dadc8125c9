import os
import pickle
import shutil
import stat

import pytest
import torch

from seq2seq.runs.checkpoint import (
    CheckpointError,
    checkpoint_dir,
    has_checkpoint,
    make_run_dir,
    optimizer_tensors,
    read_json,
    read_tensors,
    restore_optimizer,
    save_tensors,
    write_checkpoint,
)


def _write(name: str, text: str):
    def write(directory):
        (directory / "model.json").write_text(text)
        save_tensors({"w": torch.ones(2)}, directory / "model.safetensors")
    return write


def test_links_point_at_latest_and_old_dirs_are_removed(tmp_path):
    write_checkpoint(tmp_path, 1, _write("a", "{}"), ("last", "best"))
    write_checkpoint(tmp_path, 2, _write("b", "{}"), ("last",))
    write_checkpoint(tmp_path, 3, _write("c", "{}"), ("last",))
    root = tmp_path / "checkpoints"
    assert checkpoint_dir(tmp_path, "last").resolve().name == "step-000000003"
    assert checkpoint_dir(tmp_path, "best").resolve().name == "step-000000001"
    assert sorted(p.name for p in root.iterdir() if not p.is_symlink()) == ["step-000000001", "step-000000003"]


def test_links_and_files_that_leave_the_run_directory_are_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    write_checkpoint(elsewhere, 7, _write("x", "{}"), ("last",))
    run = tmp_path / "run"
    write_checkpoint(run, 1, _write("a", "{}"), ("last", "best"))
    best = run / "checkpoints" / "best"
    best.unlink()
    best.symlink_to(elsewhere / "checkpoints" / "step-000000007")
    with pytest.raises(CheckpointError, match=r"checkpoints/best: resolves to .*elsewhere/checkpoints/step-000000007, "
                                              r"outside the run directory .*run; refusing to follow it"):
        checkpoint_dir(run, "best")
    assert checkpoint_dir(run, "last").name == "last"
    weights = run / "checkpoints" / "step-000000001" / "model.safetensors"
    weights.unlink()
    weights.symlink_to(elsewhere / "checkpoints" / "step-000000007" / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"checkpoints/last/model.safetensors: resolves to .*, outside the run"):
        checkpoint_dir(run, "last")


def test_a_dangling_link_is_named_as_such(tmp_path):
    write_checkpoint(tmp_path, 1, _write("a", "{}"), ("last", "best"))
    write_checkpoint(tmp_path, 2, _write("b", "{}"), ("last",))
    (tmp_path / "checkpoints" / "step-000000001" / "model.json").unlink()
    (tmp_path / "checkpoints" / "step-000000001" / "model.safetensors").unlink()
    shutil.rmtree(tmp_path / "checkpoints" / "step-000000001")
    with pytest.raises(CheckpointError, match=r"checkpoints/best: dangling link \(to step-000000001, which does not "
                                              r"exist\); the run directory is damaged; try the last checkpoint"):
        checkpoint_dir(tmp_path, "best")
    assert has_checkpoint(tmp_path)
    (tmp_path / "checkpoints" / "last").unlink()
    assert not has_checkpoint(tmp_path)


def test_a_run_directory_that_cannot_be_made_is_named(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match=r"file/run/deeper: cannot create it, .*/file is a file, not a directory"):
        make_run_dir(tmp_path / "file" / "run" / "deeper")
    with pytest.raises(CheckpointError, match=r"file: is a file, not a run directory"):
        make_run_dir(tmp_path / "file")
    assert make_run_dir(tmp_path / "a" / "b").is_dir()


def test_failed_write_leaves_previous_checkpoint(tmp_path):
    write_checkpoint(tmp_path, 1, _write("a", '{"v": 1}'), ("last",))

    def broken(directory):
        (directory / "model.json").write_text('{"v": 2}')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_checkpoint(tmp_path, 2, broken, ("last",))
    assert read_json(checkpoint_dir(tmp_path, "last") / "model.json") == {"v": 1}


def test_pickle_files_are_refused_without_unpickling(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pickle code ran')",))

    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps(Boom(), protocol=2))
    with pytest.raises(CheckpointError, match="pickle/zip .* never loaded"):
        read_tensors(path)
    torch.save({"w": torch.ones(1)}, path)
    with pytest.raises(CheckpointError, match="never loaded"):
        read_tensors(path)


def test_truncated_and_missing_files_named(tmp_path):
    path = tmp_path / "model.safetensors"
    save_tensors({"w": torch.randn(100)}, path)
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(CheckpointError, match=r"model.safetensors: corrupted or truncated"):
        read_tensors(path)
    with pytest.raises(CheckpointError, match="missing"):
        read_tensors(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError, match="no such run directory"):
        checkpoint_dir(tmp_path / "absent")
    with pytest.raises(CheckpointError, match="not a run directory"):
        checkpoint_dir(tmp_path)


def test_optimizer_state_round_trips_through_safetensors_and_json(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    tensors, meta = optimizer_tensors(opt)
    save_tensors(tensors, tmp_path / "t.safetensors")
    import json
    meta = json.loads(json.dumps(meta))
    other = torch.optim.Adam(model.parameters(), lr=0.1)
    restore_optimizer(other, read_tensors(tmp_path / "t.safetensors"), meta)
    a, b = opt.state_dict(), other.state_dict()
    for idx in a["state"]:
        for k, v in a["state"][idx].items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(b["state"][idx][k]))
    assert a["param_groups"] == b["param_groups"]


def test_load_state_into_names_missing_unexpected_and_misshaped_weights(tmp_path):
    from seq2seq.runs.checkpoint import load_state_into

    model = torch.nn.Linear(3, 2)
    path = tmp_path / "model.safetensors"
    save_tensors({"weight": torch.ones(2, 3), "bias": torch.zeros(2)}, path)
    load_state_into(model, path)
    assert torch.equal(model.weight, torch.ones(2, 3))
    save_tensors({"weight": torch.ones(2, 3), "extra": torch.zeros(1)}, path)
    with pytest.raises(CheckpointError, match=r"missing: \['bias'\], unexpected: \['extra'\]"):
        load_state_into(model, path)
    save_tensors({"weight": torch.ones(4, 3), "bias": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match=r"tensor 'weight' has shape \(4, 3\) but the config in model.json "
                                              r"builds \(2, 3\): the config was changed"):
        load_state_into(model, path)
    # an upgrade renames the stored weights before they are matched
    save_tensors({"old.weight": torch.full((2, 3), 2.0), "old.bias": torch.ones(2)}, path)
    load_state_into(model, path, lambda t: {k.replace("old.", ""): v for k, v in t.items()})
    assert torch.equal(model.bias, torch.ones(2)) and torch.equal(model.weight, torch.full((2, 3), 2.0))


def test_best_falls_back_to_last_and_links_are_relative(tmp_path):
    write_checkpoint(tmp_path, 7, _write("a", "{}"), ("last",))
    assert checkpoint_dir(tmp_path, "best").name == "last"  # no best yet: the last checkpoint
    with pytest.raises(CheckpointError, match=r"no checkpoints/other/model.json"):
        checkpoint_dir(tmp_path, "other")
    import os

    assert os.readlink(tmp_path / "checkpoints" / "last") == "step-000000007"  # the run directory can move


def test_a_header_length_that_looks_like_a_pickle_opcode_still_loads(tmp_path):
    # 0x80 (pickle's PROTO) and "PK" (zip) as the first byte(s) of the header length are ordinary lengths
    path = tmp_path / "model.safetensors"
    for name_length in range(1, 300):
        save_tensors({"w" * name_length: torch.ones(1)}, path)
        head = path.read_bytes()[:2]
        if head[:1] == b"\x80":
            break
    else:
        pytest.fail("no tensor name gave a header length of 0x80 in its low byte")
    assert torch.equal(read_tensors(path)["w" * name_length], torch.ones(1))


@pytest.mark.parametrize("umask", [0o022, 0o027], ids=["umask022", "umask027"])
def test_checkpoint_files_and_folder_get_the_users_mode(tmp_path, umask):
    old = os.umask(umask)
    try:
        final = write_checkpoint(tmp_path, 1, _write("a", "{}"), ("last",))
    finally:
        os.umask(old)
    assert stat.S_IMODE(final.stat().st_mode) == 0o777 & ~umask
    assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in final.iterdir()} == {
        "model.json": 0o666 & ~umask, "model.safetensors": 0o666 & ~umask, "SHA256SUMS": 0o666 & ~umask}


def test_restored_optimizer_keeps_its_own_fused_choice():
    """A state saved by an unfused Adam resumes in a fused one (and back): the flag is not state."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    plain = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(4, 3)).sum().backward()
    plain.step()
    tensors, meta = optimizer_tensors(plain)
    fused = torch.optim.Adam(model.parameters(), lr=0.1, fused=True)
    restore_optimizer(fused, tensors, meta)
    assert fused.param_groups[0]["fused"] is True
    fused.step()  # the restored state is usable by the fused kernel
    tensors, meta = optimizer_tensors(fused)
    again = torch.optim.Adam(model.parameters(), lr=0.1)
    restore_optimizer(again, tensors, meta)
    assert not again.param_groups[0]["fused"]
