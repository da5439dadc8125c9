"""Run preparation: splits read, sides fitted (or read back to resume), the model built, pairs encoded."""

import numpy as np
import pytest

from seq2seq import ConfigError, build_config
from seq2seq.data.corpus import build_sides
from seq2seq.data.datasets import DataError
from seq2seq.data.sides import FeatureSide, TokenSide
from seq2seq.data.tasks import generate_splits
from seq2seq.data.vocab import Vocab
from seq2seq.runs.bundle import assemble
from seq2seq.runs.checkpoint import write_checkpoint
from seq2seq.training.prepare import prepare

SMALL = {"data.task": "reverse", "data.train_size": 60, "data.valid_size": 10, "data.test_size": 5,
         "model.embedding_size": 8, "model.encoder_hidden": 16, "model.decoder_hidden": 16}


def test_fresh_run_fits_the_sides_on_the_training_split(tmp_path):
    cfg = build_config(overrides=SMALL)
    data = prepare(cfg, tmp_path, resume=False)
    splits = generate_splits("reverse", 60, 10, 5, cfg.data.task_seed)
    assert (len(data.train), len(data.valid), len(data.test)) == (60, 10, 5)
    source, target = data.bundle.source, data.bundle.target
    assert isinstance(source, TokenSide) and isinstance(target, TokenSide)
    letters = {c for s, _ in splits["train"] for c in s}
    assert set(source.vocab.tokens[4:]) == letters
    assert data.train[0] == (source.encode(splits["train"][0][0]), target.encode(splits["train"][0][1]))
    assert data.valid[-1] == (source.encode(splits["valid"][-1][0]), target.encode(splits["valid"][-1][1]))
    model = data.bundle.model
    assert model.encoder.input.num_embeddings == source.size and model.head.vocab_size == target.size
    assert data.bundle.config is cfg


def test_no_test_split_gives_no_test_pairs(tmp_path):
    data = prepare(build_config(overrides={**SMALL, "data.test_size": 0}), tmp_path, resume=False)
    assert data.test == []


def test_length_limits_drop_training_pairs_only(tmp_path):
    cfg = build_config(overrides={**SMALL, "data.max_source_length": 4})
    data = prepare(cfg, tmp_path, resume=False)
    splits = generate_splits("reverse", 60, 10, 5, cfg.data.task_seed)
    assert len(data.train) == sum(len(s) <= 4 for s, _ in splits["train"]) < 60
    assert all(len(s) <= 4 for s, _ in data.train)
    assert len(data.valid) == 10 and any(len(s) > 4 for s, _ in data.valid)  # evaluation sees every pair
    with pytest.raises(ConfigError, match=r"no training pairs left after the length filter"):
        prepare(build_config(overrides={**SMALL, "data.max_target_length": 1, "data.max_source_length": 1,
                                        "data.task": "addition"}), tmp_path, resume=False)


def test_a_runaway_line_is_dropped_and_reported_by_default(tmp_path, caplog):
    huge = "x" * 2_000_000  # one 2 MB line: a batch of it would need gigabytes
    (tmp_path / "train.tsv").write_text("".join(f"{w}\t{w[::-1]}\n" for w in ("abc", "hello", "xyz")) +
                                        f"{huge}\ty\n", encoding="utf-8")
    (tmp_path / "valid.tsv").write_text(f"abc\tcba\nab\t{huge}\n", encoding="utf-8")
    cfg = build_config(overrides={"data.train": str(tmp_path / "train.tsv"), "data.valid": str(tmp_path / "valid.tsv")})
    caplog.set_level("WARNING", logger="seq2seq")
    data = prepare(cfg, tmp_path / "run", resume=False)
    assert len(data.train) == 3 and len(data.valid) == 1
    assert [r.getMessage() for r in caplog.records] == [
        "train: dropped 1 of 4 pairs longer than data.max_source_length=1000 or data.max_target_length=1000",
        "valid: dropped 1 of 2 pairs longer than decode.max_source_length=1000 or decode.max_output_length=1000"]


def test_resume_reads_the_sides_of_the_last_checkpoint(tmp_path):
    cfg = build_config(overrides=SMALL)
    splits = generate_splits("reverse", 60, 10, 5, cfg.data.task_seed)
    source, target = build_sides(cfg, splits["train"])
    # a saved target vocabulary that differs from what the data would give: resuming must keep it
    target = TokenSide(target.tokenizer, Vocab(target.vocab.tokens + ["#"]))
    bundle = assemble(cfg, source, target)
    write_checkpoint(tmp_path, 3, lambda d: bundle.save_into(d, {"step": 3, "epoch": 1}), ("last", "best"))
    data = prepare(cfg, tmp_path, resume=True)
    assert data.bundle.target.vocab == target.vocab and data.bundle.target.size == target.size
    assert data.bundle.model.head.vocab_size == target.size
    assert prepare(cfg, tmp_path, resume=False).bundle.target.size == target.size - 1


def test_feature_sides_are_normalised_by_the_training_split(tmp_path):
    cfg = build_config(overrides={"data.task": "keras-example", "data.train_size": 50, "data.valid_size": 10,
                                  "data.test_size": 0, "model.encoder_hidden": 16, "model.decoder_hidden": 16})
    data = prepare(cfg, tmp_path, resume=False)
    splits = generate_splits("keras-example", 50, 10, 0, cfg.data.task_seed)
    source = data.bundle.source
    assert isinstance(source, FeatureSide) and source.dim == 1
    steps = np.concatenate([s for s, _ in splits["train"]])
    assert np.allclose(source.mean, steps.mean(0)) and np.allclose(source.std, steps.std(0))
    assert np.allclose(data.train[0][0], (splits["train"][0][0] - source.mean) / source.std)


def _vectors(tmp_path, tokens, dim=8, scale=1.0):
    path = tmp_path / "vectors.vec"
    lines = [f"{len(tokens)} {dim}"] + [f"{t} " + " ".join(str(scale * (i + 1)) for _ in range(dim))
                                       for i, t in enumerate(tokens)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_pretrained_embeddings_are_read_reported_and_frozen(tmp_path, caplog):
    vectors = _vectors(tmp_path, ["a", "b", "zz", "c"])
    cfg = build_config(overrides={**SMALL, "model.source_embeddings": str(vectors),
                                  "model.target_embeddings": str(vectors), "model.freeze_embeddings": True})
    with caplog.at_level("INFO", logger="seq2seq"):
        data = prepare(cfg, tmp_path / "run", resume=False)
    source, model = data.bundle.source, data.bundle.model
    weight = model.encoder.input.weight
    assert weight[source.vocab.encode(["a"])[0]].tolist() == [1.0] * 8
    assert weight[source.vocab.encode(["c"])[0]].tolist() == [4.0] * 8
    assert not weight.requires_grad and not model.head.input.weight.requires_grad
    assert model.head.output.weight.requires_grad  # only the embeddings are frozen
    letters = len(source.vocab)
    assert f"model.source_embeddings: 3 of {letters} vocabulary entries found in {vectors}" in caplog.text
    with pytest.raises(ConfigError, match=r"model.freeze_embeddings=true needs model.source_embeddings"):
        build_config(overrides={**SMALL, "model.freeze_embeddings": True})


def test_pretrained_embeddings_are_not_read_again_on_resume_but_stay_frozen(tmp_path):
    cfg = build_config(overrides={**SMALL, "model.target_embeddings": str(_vectors(tmp_path, ["a"])),
                                  "model.freeze_embeddings": True})
    fresh = prepare(cfg, tmp_path, resume=False).bundle
    write_checkpoint(tmp_path, 3, lambda d: fresh.save_into(d, {"step": 3, "epoch": 1}), ("last", "best"))
    (tmp_path / "vectors.vec").unlink()  # a resumed run reads its trained weights from the checkpoint instead
    resumed = prepare(cfg, tmp_path, resume=True).bundle
    assert not resumed.model.head.input.weight.requires_grad


def test_embedding_size_mismatch_names_the_file_and_line(tmp_path):
    cfg = build_config(overrides={**SMALL, "model.source_embeddings": str(_vectors(tmp_path, ["a"], dim=5))})
    with pytest.raises(DataError, match=r"vectors.vec:1: the header declares vectors of 5 values, but "
                                        r"model.embedding_size is 8"):
        prepare(cfg, tmp_path, resume=False)
