"""Checkpoint averaging: which step checkpoints, the mean of their weights as a loadable run, and refusals."""

import json

import pytest
import torch
from safetensors.torch import load_file

import seq2seq
from seq2seq.runs.averaging import average_checkpoints, pick_steps
from seq2seq.runs.checkpoint import CheckpointError, checkpoint_dir


def test_pick_the_latest_or_the_named_steps(make_run):
    run = make_run(steps=(10, 20, 30, 40))
    assert [d.name for d in pick_steps(run, last=2)] == ["step-000000030", "step-000000040"]
    assert [d.name for d in pick_steps(run, steps=[40, 10])] == ["step-000000010", "step-000000040"]
    with pytest.raises(CheckpointError, match=r"5 checkpoints asked for, but only 4 kept \(steps: 10, 20, 30, 40\); "
                                              r"train with train.keep_checkpoints=5"):
        pick_steps(run, last=5)
    with pytest.raises(CheckpointError, match=r"no checkpoint of step 25 \(steps kept: 10, 20, 30, 40\)"):
        pick_steps(run, steps=[10, 25])


def test_the_average_is_the_mean_of_the_weights_and_loads_as_a_run(make_run, tmp_path):
    run = make_run(steps=(10, 20, 30))
    chosen = pick_steps(run, last=3)
    final = average_checkpoints(run, chosen, tmp_path / "avg")
    weights = [load_file(str(d / "model.safetensors")) for d in chosen]
    averaged = load_file(str(final / "model.safetensors"))
    assert averaged.keys() == weights[0].keys()
    for name, value in averaged.items():
        assert torch.equal(value, (sum(w[name].double() for w in weights) / 3).float()), name
    assert checkpoint_dir(tmp_path / "avg", "best").resolve() == final.resolve() and final.name == "step-000000030"
    meta = json.loads((final / "model.json").read_text())
    assert meta["averaged"] == {"run": str(run), "steps": [10, 20, 30]} and meta["step"] == 30
    assert (tmp_path / "avg" / "config.yaml").read_text() == (run / "config.yaml").read_text()
    assert len(seq2seq.load(tmp_path / "avg").translate(["abc"])[0]) == 1
    with pytest.raises(CheckpointError, match="already holds a run"):
        average_checkpoints(run, chosen, tmp_path / "avg")


def test_checkpoints_with_other_sides_are_refused(make_run, tmp_path):
    run = make_run(steps=(1, 2))
    other = make_run("other", text="xyz")
    chosen = pick_steps(run, last=2) + pick_steps(other, last=1)
    with pytest.raises(CheckpointError, match="the vocabularies or feature statistics differ"):
        average_checkpoints(run, chosen, tmp_path / "avg")


def test_keep_checkpoints_keeps_the_latest_step_directories(make_run):
    run = make_run(steps=(1, 2, 3, 4, 5), **{"train.keep_checkpoints": 2})
    assert sorted(p.name for p in (run / "checkpoints").glob("step-*")) == ["step-000000004", "step-000000005"]
    only_linked = make_run("linked", steps=(1, 2, 3), **{"train.keep_checkpoints": 0})
    assert [p.name for p in (only_linked / "checkpoints").glob("step-*")] == ["step-000000003"]
