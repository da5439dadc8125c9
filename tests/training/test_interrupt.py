"""Ctrl-C and SIGTERM during training: the step finishes, a checkpoint is written, the command says how to resume
and exits 128 + the signal, and the resumed run ends with the weights of one never stopped."""

import json
import signal
import subprocess
import sys

import pytest

from seq2seq.runs.checkpoint import checkpoint_dir
from seq2seq.training.interrupt import StopSignals


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stopped_run_checkpoints_says_how_to_resume_and_resumes_exactly(tmp_path, launch, full_run, signum,
                                                                        wait_for_evaluations, same_weights):
    run = tmp_path / "stopped"
    process = launch(run)
    wait_for_evaluations(process, run, 2)
    process.send_signal(signum)
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 128 + signum, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"seq2seq: stopped by {signal.Signals(signum).name} after step ")
    assert last.endswith(f"checkpoint written to {run / 'checkpoints' / 'last'}. Resume with: "
                         f"seq2seq train --out {run} --resume")
    step = int(last.split("after step ")[1].split()[0])
    assert json.loads((checkpoint_dir(run, "last") / "model.json").read_text())["step"] == step
    resumed = subprocess.run([sys.executable, "-m", "seq2seq", "train", "--out", str(run), "--resume", "--quiet"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    same_weights(full_run, run)


def test_stop_signals_are_noted_once_then_interrupt():
    with StopSignals() as stop:
        signal.raise_signal(signal.SIGTERM)
        assert stop.received == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt):  # a second signal stops at once
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the handlers are given back
