"""Fault injection around a run directory, each case in a process of its own: SIGKILL at random moments of
training and of the resume itself, a second trainer, a write the OS refuses (a file-size limit, and an injected
No space left on device at each write site), and readers while a run trains.

What must hold: a killed-and-resumed run ends bit-identical to one never stopped, with metrics.jsonl holding
each evaluation once; a second trainer is refused at once and the first finishes undisturbed; a refused write
is one line (what, why, what is intact, how to go on) with exit status 3 and nothing half-written or temporary
left behind; a reader never fails while the checkpoints rotate under it.
"""

import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seq2seq.runs.bundle import load_bundle
from seq2seq.runs.checkpoint import has_checkpoint

# A run small enough to fail, resume and finish in seconds: 4 steps an epoch, an evaluation every 2 steps.
TINY = ["train", "--task", "addition", "--preset", "reverse-peeky", "--quiet", "--epochs", "2",
        "--set", "data.train_size=64", "--set", "data.valid_size=16", "--set", "data.test_size=8",
        "--set", "model.embedding_size=16", "--set", "model.encoder_hidden=32", "--set", "model.decoder_hidden=32",
        "--set", "train.batch_size=16", "--set", "train.eval_every=2", "--set", "train.threads=1",
        "--set", "train.keep_checkpoints=2"]

# The child: refuse the `nth` write of a file named `site` (its temporary name included) with ENOSPC, after
# writing a few bytes of it, at whichever level it is written (Python's open, os.write, safetensors), then run
# the command line.
INJECT = r"""
import errno, io, os, sys
from safetensors import SafetensorError
site, nth = sys.argv[1], int(sys.argv[2])
seen = [0]

def hit(name):
    base = os.path.basename(str(name))
    if base == site or (base.startswith("." + site + ".") and base.endswith(".tmp")):
        seen[0] += 1
        return seen[0] == nth
    return False

def refuse(name):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(name))

real_open, real_write = io.open, os.write

def fake_open(file, mode="r", *args, **kwargs):
    if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax") and hit(file):
        with real_open(file, "wb") as f:
            f.write(b"half")
        refuse(file)
    return real_open(file, mode, *args, **kwargs)

def fake_write(fd, data):
    try:
        name = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        name = ""
    if name and hit(name):
        real_write(fd, bytes(data)[:3])
        refuse(name)
    return real_write(fd, data)

io.open = fake_open
__builtins__.open = fake_open
os.write = fake_write
import seq2seq.runs.checkpoint as checkpoint
real_save = checkpoint.save_file

def fake_save(tensors, path, *args, **kwargs):
    if hit(path):
        with real_open(path, "wb") as f:
            f.write(b"half")
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
    return real_save(tensors, path, *args, **kwargs)

checkpoint.save_file = fake_save
from seq2seq.cli import main
sys.exit(main(sys.argv[3:]))
"""

ENV = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}


def _seq2seq(args, inject=None, file_limit=None, timeout=300):
    """Run `seq2seq ARGS` in a child process (with a write site refused, or a file-size limit)."""
    cmd = [sys.executable, "-c", INJECT, *inject, *args] if inject else [sys.executable, "-m", "seq2seq", *args]
    limit = (lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))) if file_limit else None
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV, preexec_fn=limit)


def _leftovers(run: Path) -> list[str]:
    """Temporary files or folders of an interrupted write anywhere in a run directory."""
    return [str(p.relative_to(run)) for p in run.rglob("*") if p.name.startswith(".tmp-") or p.name.endswith(".tmp")]


def _steps(run: Path) -> list[int]:
    path = run / "metrics.jsonl"
    return [json.loads(line)["step"] for line in path.read_text().splitlines()] if path.exists() else []


def _same_weights(a: Path, b: Path) -> None:
    assert (a / "checkpoints" / "last" / "model.safetensors").read_bytes() == \
        (b / "checkpoints" / "last" / "model.safetensors").read_bytes()


@pytest.fixture(scope="module")
def tiny_full(tmp_path_factory):
    """The tiny run trained without a fault."""
    out = tmp_path_factory.mktemp("tiny") / "run"
    done = _seq2seq(TINY + ["--out", str(out)])
    assert done.returncode == 0, done.stderr
    return out


# --- a write the OS refuses -----------------------------------------------------------------------------------

# (file, which of its writes fails, whether a checkpoint exists by then, whether to resume afterwards: for some
# sites only, to keep the suite's time modest)
SITES = [("config.yaml", 1, False, False), ("metrics.jsonl", 2, False, True), ("source.vocab.json", 1, False, False),
         ("trainer.json", 1, False, False), ("SHA256SUMS", 1, False, False), ("model.safetensors", 2, True, True),
         ("test_metrics.json", 1, True, False)]


@pytest.mark.slow
@pytest.mark.parametrize(("site", "nth", "checkpointed", "resume"), SITES, ids=[s[0] for s in SITES])
def test_a_refused_write_is_one_line_leaves_nothing_half_written_and_the_run_goes_on(site, nth, checkpointed, resume,
                                                                                     tmp_path, tiny_full):
    run = tmp_path / "run"
    failed = _seq2seq(TINY + ["--out", str(run)], inject=(site, str(nth)))
    assert failed.returncode == 3, failed.stderr
    assert "Traceback" not in failed.stderr
    line = failed.stderr.strip().splitlines()[-1]
    intact = (f"The last good checkpoint, {(run / 'checkpoints' / 'last').resolve()}, is intact" if checkpointed
              else f"{run} holds no checkpoint yet")
    assert line.startswith("seq2seq: error: could not write ") and site in line.split(": No space")[0], line
    assert line.endswith(f": No space left on device. {intact}. Free some space, then go on with: seq2seq train "
                         f"--out {run} --resume"), line
    assert _leftovers(run) == []
    assert has_checkpoint(run) == checkpointed
    assert _steps(run) == sorted(set(_steps(run)))  # whole lines only
    if site == "config.yaml":
        assert not (run / "config.yaml").exists()  # nothing to resume: the same command starts it again
    if not resume:
        return
    again = _seq2seq(["train", "--out", str(run), "--resume", "--quiet"])
    assert again.returncode == 0, again.stderr
    if not checkpointed:
        assert "no checkpoint yet" in again.stderr  # started from the beginning with the saved config
    _same_weights(tiny_full, run)
    assert _steps(run) == _steps(tiny_full)


@pytest.mark.slow
def test_a_file_size_limit_below_the_checkpoint_is_one_line_and_every_reader_writes_cleanly(tmp_path, tiny_full):
    run = tmp_path / "run"
    size = (tiny_full / "checkpoints" / "last" / "model.safetensors").stat().st_size
    failed = _seq2seq(TINY + ["--out", str(run)], file_limit=size // 2)
    assert failed.returncode == 3, failed.stderr
    line = failed.stderr.strip().splitlines()[-1]
    assert line.startswith(f"seq2seq: error: could not write the checkpoint of step 2 into {run / 'checkpoints'} "
                           f"(model.safetensors): File too large. {run} holds no checkpoint yet. Raise the file-size "
                           f"limit (ulimit -f), then go on with: seq2seq train --out {run} --resume"), line
    assert _leftovers(run) == [] and not has_checkpoint(run)
    # eval's predictions, average's and export's output directories: nothing half-written, exit 3
    preds = tmp_path / "predictions.tsv"
    data = tmp_path / "data.tsv"
    data.write_text("1+2\t3\n" * 400)
    cases = {"eval": (["eval", str(tiny_full), "--data", str(data), "--predictions", str(preds)], preds),
             "average": (["average", str(tiny_full), "--last", "2", "--out", str(tmp_path / "avg")], tmp_path / "avg"),
             "export": (["export", str(tiny_full), "--out", str(tmp_path / "onnx")], tmp_path / "onnx")}
    for name, (args, out) in cases.items():
        limit = 2000 if name == "eval" else 10_000
        refused = _seq2seq(args, file_limit=limit)
        assert refused.returncode == 3, (name, refused.stderr)
        last = refused.stderr.strip().splitlines()[-1]  # after the run's own log lines (the kernels banner)
        assert last.startswith("seq2seq: error: could not write ") and "File too large" in last
        assert "Traceback" not in refused.stderr
        assert not out.exists(), name
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], name


# The child: SIGKILL itself just before the `nth` rename onto a name starting with `target` (a checkpoint folder
# `step-`, the `last` link, metrics.jsonl), then run the command line.
KILL = r"""
import os, signal, sys
target, nth = sys.argv[1], int(sys.argv[2])
seen = [0]
real_replace = os.replace

def replace(src, dst, *args, **kwargs):
    if os.path.basename(str(dst)).startswith(target):
        seen[0] += 1
        if seen[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst, *args, **kwargs)

os.replace = replace
from seq2seq.cli import main
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.slow
@pytest.mark.parametrize(("target", "nth"), [("step-", 2), ("last", 2)], ids=["folder-rename", "link-swap"])
def test_sigkill_inside_a_checkpoint_write_and_inside_the_resume_loses_nothing(target, nth, tmp_path, tiny_full):
    run = tmp_path / "run"
    killed = subprocess.run([sys.executable, "-c", KILL, target, str(nth), *TINY, "--out", str(run)],
                            capture_output=True, text=True, timeout=300, env=ENV)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert json.loads((run / "checkpoints" / "last" / "model.json").read_text())["step"] == 2  # the one before
    assert _steps(run) == [2, 4]
    # killed again while the resume drops step 4 from metrics.jsonl: the file stays as it was, never truncated
    again = subprocess.run([sys.executable, "-c", KILL, "metrics.jsonl", "1", "train", "--out", str(run),
                            "--resume", "--quiet"], capture_output=True, text=True, timeout=300, env=ENV)
    assert again.returncode == -signal.SIGKILL, again.stderr
    assert _steps(run) == [2, 4]
    done = _seq2seq(["train", "--out", str(run), "--resume", "--quiet"])
    assert done.returncode == 0, done.stderr
    _same_weights(tiny_full, run)
    assert _steps(run) == _steps(tiny_full)
    assert _leftovers(run) == []


# --- SIGKILL, a second trainer, readers --------------------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_at_random_moments_of_training_and_of_resuming_ends_bit_identical(tmp_path, launch, full_run):
    run = tmp_path / "killed"
    draw = random.Random(34)  # the moments differ from machine to machine; what must hold does not
    process = launch(run)
    while not (run / "config.yaml").exists():  # before it, the directory is not yet a run to resume
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.01)
    for _ in range(4):
        time.sleep(draw.uniform(0.2, 3.0))
        if process.poll() is not None:
            break
        process.send_signal(signal.SIGKILL)
        process.wait()
        process = launch(run, "--resume")  # a scheduler relaunching one command line, checkpoint or not
    assert process.wait(timeout=300) == 0, process.stderr.read().decode()
    _same_weights(full_run, run)
    assert _steps(run) == _steps(full_run)  # each evaluation once, in order
    keys = ("valid_loss", "valid_token_accuracy", "valid_exact_match")
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    full = [json.loads(x) for x in (full_run / "metrics.jsonl").read_text().splitlines()]
    assert [[r[k] for k in keys] for r in rows] == [[r[k] for k in keys] for r in full]
    assert _leftovers(run) == []


@pytest.mark.slow
def test_a_second_trainer_is_refused_at_once_and_the_first_finishes_undisturbed(tmp_path, launch,
                                                                                wait_for_evaluations):
    run = tmp_path / "run"
    first = launch(run, "--epochs", "12")  # long enough to outlive the second ones' start
    wait_for_evaluations(first, run, 1)
    seconds = [subprocess.Popen([sys.executable, "-m", "seq2seq", "train", "--out", str(run), "--quiet", "--task",
                                 "addition", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=ENV) for extra in (["--resume"], [])]
    for second in seconds:
        out, err = second.communicate(timeout=120)
        assert second.returncode == 4, err
        assert err.count("\n") == 1 and "Traceback" not in err and out == ""
        assert err.startswith(f"seq2seq: error: {run}: another trainer is training this run (PID {first.pid} on ")
        assert err.endswith(f"then resume with `seq2seq train --out {run} --resume`, or train into another --out\n")
    assert first.poll() is None, "the first run ended before the others were refused: make it longer"
    assert first.wait(timeout=300) == 0, first.stderr.read().decode()
    steps = _steps(run)
    assert steps == sorted(set(steps)) and steps[-1] == 12 * 19  # every evaluation once, in order, to the end
    assert json.loads((run / "checkpoints" / "last" / "model.json").read_text())["step"] == steps[-1]
    checked = _seq2seq(["check", str(run)])
    assert checked.returncode == 0 and checked.stdout.splitlines()[-1] == "1 checkpoint(s), none damaged"


@pytest.mark.slow
def test_readers_keep_working_while_the_run_trains_and_rotates_its_checkpoints(tmp_path, launch):
    run = tmp_path / "run"
    trainer = launch(run, "--set", "train.eval_every=1", "--epochs", "2")  # a checkpoint (and a rotation) a step
    loads, deadline = 0, time.time() + 120
    while not has_checkpoint(run) and time.time() < deadline:
        time.sleep(0.02)
    while trainer.poll() is None and time.time() < deadline:
        for which in ("last", "best"):
            assert load_bundle(run, which).model is not None  # never rotated away under the reader
            loads += 1
    assert trainer.wait(timeout=300) == 0, trainer.stderr.read().decode()
    assert loads >= 10
    checked = _seq2seq(["check", str(run)])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.splitlines()[-1] == "1 checkpoint(s), none damaged"


@pytest.mark.slow
def test_under_torchrun_rank_0_is_refused_and_every_rank_learns_it_before_any_work(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    hold = "import sys, time; from seq2seq.runs.lock import RunLock; lock = RunLock(sys.argv[1]); print('held', " \
           "flush=True); time.sleep(120)"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
                    "--master_addr", "127.0.0.1", "--master_port", str(port), "-m", "seq2seq", *TINY, "--out",
                    str(run)]
        done = subprocess.run(torchrun, capture_output=True, text=True, timeout=300, env=ENV)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    refusal = f"seq2seq: error: {run}: another trainer is training this run (PID {holder.pid} on "
    assert done.returncode != 0
    assert done.stderr.count(refusal) == 2, done.stderr[-3000:]  # rank 0, and rank 1 told by it
    assert sorted(p.name for p in run.iterdir()) == ["train.lock"]  # nothing read into, nothing written
