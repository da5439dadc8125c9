"""Checkpoints of a training run: saved and restored exactly (weights, optimiser, RNG, progress), a killed run
resumed to bit-identical weights, and format 1 runs refused for resuming."""

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from seq2seq import build_config
from seq2seq.data.corpus import build_sides
from seq2seq.data.tasks import generate_splits
from seq2seq.runs.bundle import assemble, load_bundle
from seq2seq.runs.checkpoint import CheckpointError, checkpoint_dir
from seq2seq.training import Progress, Trainer
from seq2seq.training.checkpointer import METRICS_FILE, Checkpointer
from seq2seq.training.distributed import World
from seq2seq.training.resume import run_config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "v1"


def _bundle(seed=0):
    cfg = build_config(overrides={"data.task": "reverse", "model.embedding_size": 8, "model.encoder_hidden": 16,
                                  "model.decoder_hidden": 16, "model.dropout": 0.1})
    source, target = build_sides(cfg, generate_splits("reverse", 40, 5, 0, 1)["train"])
    torch.manual_seed(seed)
    return assemble(cfg, source, target)


def _steps(bundle, optimizer, n=3):
    src, lengths = bundle.source.pad([bundle.source.encode("abc"), bundle.source.encode("de")])
    tgt_in, tgt_out, _ = bundle.target.pad_target([bundle.target.encode("cba"), bundle.target.encode("ed")])
    bundle.model.train()
    for _ in range(n):
        optimizer.zero_grad()
        loss, _ = bundle.model.loss(bundle.model(src, lengths, tgt_in).scores, tgt_out)
        loss.backward()
        optimizer.step()


def test_save_then_restore_gives_back_weights_optimiser_rng_and_progress(tmp_path):
    bundle = _bundle()
    optimizer = torch.optim.Adam(bundle.model.parameters(), lr=0.01)
    _steps(bundle, optimizer)
    ckpt = Checkpointer(tmp_path, World(), torch.device("cpu"))
    progress = Progress(step=3, epoch=1, batch_in_epoch=0, best=1.5, bad_evals=1, lr_scale=0.5, seconds=2.0,
                        history=[{"step": 3, "valid_loss": 1.5}])
    for step in (2, 3, 4):  # an evaluation after the checkpoint is dropped on restoring
        ckpt.log_metrics({"step": step, "valid_loss": 1.0})
    torch.manual_seed(123)
    ckpt.save(bundle, optimizer, progress, best=True)
    expected_draw = torch.rand(5)
    assert checkpoint_dir(tmp_path, "last").resolve() == checkpoint_dir(tmp_path, "best").resolve()
    assert json.loads((checkpoint_dir(tmp_path, "last") / "model.json").read_text())["step"] == 3

    other = _bundle(seed=1)
    opt2 = torch.optim.Adam(other.model.parameters(), lr=0.01)
    torch.manual_seed(999)
    restored = ckpt.restore(other.model, opt2)
    assert torch.equal(torch.rand(5), expected_draw)  # the RNG continues where the saved run was
    assert restored == progress
    for (name, a), b in zip(bundle.model.state_dict().items(), other.model.state_dict().values()):
        assert torch.equal(a, b), name
    a, b = optimizer.state_dict(), opt2.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for idx, state in a["state"].items():
        for k, v in state.items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(b["state"][idx][k])), (idx, k)
    steps = [json.loads(x)["step"] for x in (tmp_path / METRICS_FILE).read_text().splitlines()]
    assert steps == [2, 3]
    # both continue identically from here (the same dropout draws for each)
    torch.manual_seed(7)
    _steps(bundle, optimizer, 1)
    torch.manual_seed(7)
    _steps(other, opt2, 1)
    for (name, a), b in zip(bundle.model.state_dict().items(), other.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_checkpoint_that_is_not_the_best_moves_only_last(tmp_path):
    bundle = _bundle()
    optimizer = torch.optim.Adam(bundle.model.parameters())
    ckpt = Checkpointer(tmp_path, World(), torch.device("cpu"))
    ckpt.save(bundle, optimizer, Progress(step=1, epoch=1), best=True)
    ckpt.save(bundle, optimizer, Progress(step=2, epoch=2), best=False)
    assert checkpoint_dir(tmp_path, "best").resolve().name == "step-000000001"
    assert checkpoint_dir(tmp_path, "last").resolve().name == "step-000000002"
    files = {p.name for p in checkpoint_dir(tmp_path, "last").iterdir()}
    assert {"model.safetensors", "model.json", "trainer.safetensors", "trainer.json", "source.vocab.json",
            "target.vocab.json"} <= files
    assert load_bundle(tmp_path, "last").config.to_dict() == bundle.config.to_dict()


def test_resuming_a_format_1_run_is_refused(tmp_path):
    run = shutil.copytree(FIXTURES / "tokens", tmp_path / "v1", symlinks=True)
    with pytest.raises(CheckpointError, match=r"checkpoint format 1.*to train on, start a new run"):
        Trainer(None, run, resume=True, quiet=True)
    # it still loads for translation
    assert load_bundle(run).model is not None


def test_resuming_a_format_1_run_from_the_command_line_is_one_line(tmp_path, capsys):
    from seq2seq.cli import main

    run = shutil.copytree(FIXTURES / "tokens", tmp_path / "v1", symlinks=True)
    before = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert main(["train", "--out", str(run), "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("seq2seq: error: ") and "checkpoint format 1" in err and "Traceback" not in err
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == before  # nothing written


# --- a real kill ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_killed_run_resumes_to_identical_weights(tmp_path, launch, full_run, wait_for_evaluations, same_weights):
    killed = launch(tmp_path / "killed")
    wait_for_evaluations(killed, tmp_path / "killed", 2)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    resumed = subprocess.run([sys.executable, "-m", "seq2seq", "train", "--out", str(tmp_path / "killed"),
                              "--resume", "--quiet"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    same_weights(full_run, tmp_path / "killed")
    steps = [json.loads(x)["step"] for x in (tmp_path / "killed" / METRICS_FILE).read_text().splitlines()]
    assert steps == sorted(set(steps))


# --- Transformer sides: an interrupted run resumes to the same weights --------------------------------------

ARCHITECTURES = {
    "transformer": {"model.encoder_type": "transformer", "model.decoder_type": "transformer",
                    "model.tie_embeddings": True},
    "transformer-encoder+rnn-decoder": {"model.encoder_type": "transformer", "model.bridge": "linear",
                                        "model.attention": "general", "model.decoder_hidden": 16},
    "rnn-encoder+transformer-decoder": {"model.decoder_type": "transformer", "model.bidirectional": True,
                                        "model.encoder_hidden": 16},
}


class _Interrupted(Exception):
    pass


@pytest.mark.slow
@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_interrupted_transformer_runs_resume_to_identical_weights(architecture, tmp_path, monkeypatch):
    cfg = build_config(overrides={
        "data.task": "reverse", "data.train_size": 160, "data.valid_size": 16, "data.test_size": 0,
        "model.embedding_size": 16, "model.transformer_size": 16, "model.transformer_heads": 2,
        "model.transformer_ff_size": 32, "model.dropout": 0.1, "model.attention_dropout": 0.1,
        "train.batch_size": 16, "train.epochs": 2, "train.eval_every": 4, "train.threads": 1,
        "train.schedule": "inverse_sqrt", "train.warmup_steps": 5, **ARCHITECTURES[architecture]})
    Trainer(cfg, tmp_path / "full", quiet=True).run()
    update, calls = Trainer._update, []

    def interrupt_at_the_seventh_step(self, group):
        calls.append(1)
        if len(calls) == 7:  # after the checkpoint of step 4, before the one of step 8
            raise _Interrupted
        return update(self, group)

    monkeypatch.setattr(Trainer, "_update", interrupt_at_the_seventh_step)
    with pytest.raises(_Interrupted):
        Trainer(cfg, tmp_path / "cut", quiet=True).run()
    monkeypatch.setattr(Trainer, "_update", update)
    assert json.loads((tmp_path / "cut" / METRICS_FILE).read_text().splitlines()[-1])["step"] == 4
    Trainer(cfg, tmp_path / "cut", resume=True, quiet=True).run()
    a = load_file(str(tmp_path / "full" / "checkpoints" / "last" / "model.safetensors"))
    b = load_file(str(tmp_path / "cut" / "checkpoints" / "last" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# --- resuming the attention family and the other issue-20 keys bit-identically -------------------------------

RESUMED = {
    "location-coverage-loss": {"model.attention": "location", "model.coverage": True, "model.input_feeding": True,
                               "train.coverage_loss": 0.5},
    "two-heads": {"model.attention": "scaled_dot", "model.attention_heads": 2, "model.decoder_hidden": 32},
    "copy": {"data.task": "names", "model.attention": "concat", "model.copy": True},
    "frozen-embeddings-kept-checkpoints": {"model.attention": "general", "model.freeze_embeddings": True,
                                           "train.keep_checkpoints": 3},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", RESUMED)
def test_the_family_resumes_at_an_epoch_boundary_to_identical_weights(name, tmp_path):
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("a " + " ".join(["0.5"] * 8) + "\nPay " + " ".join(["1"] * 8) + "\n", encoding="utf-8")
    overrides = {"data.task": "reverse", "data.train_size": 200, "data.valid_size": 20, "data.test_size": 0,
                 "model.embedding_size": 8, "model.encoder_hidden": 16, "model.decoder_hidden": 16,
                 "model.bidirectional": True, "model.bridge": "linear", "model.dropout": 0.1,
                 "model.source_embeddings": str(vectors), "train.batch_size": 16, "train.threads": 1,
                 "train.eval_every": 6, "train.epochs": 2, **RESUMED[name]}
    Trainer(build_config(overrides=overrides), tmp_path / "full", quiet=True).run()
    Trainer(build_config(overrides={**overrides, "train.epochs": 1}), tmp_path / "cut", quiet=True).run()
    Trainer(build_config(overrides={"train.epochs": 2}, base=run_config(tmp_path / "cut")), tmp_path / "cut",
            resume=True, quiet=True).run()
    a = load_file(str(tmp_path / "full" / "checkpoints" / "last" / "model.safetensors"))
    b = load_file(str(tmp_path / "cut" / "checkpoints" / "last" / "model.safetensors"))
    for k in a:
        assert torch.equal(a[k], b[k]), k
    if overrides.get("train.keep_checkpoints"):
        kept = sorted(p.name for p in (tmp_path / "full" / "checkpoints").glob("step-*"))
        assert len(kept) == 3 and kept[-1] == checkpoint_dir(tmp_path / "full", "last").resolve().name
