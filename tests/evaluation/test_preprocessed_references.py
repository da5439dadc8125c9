"""A run from a `seq2seq preprocess` directory scores its outputs against the raw reference lines, as a run from
the text files does: with references that hold words outside the vocabulary, every validation and test metric is
the same both ways (tests/evaluation/test_validation_truth.py checks the text path against sacreBLEU)."""

import json
import random

import pytest

import seq2seq
from seq2seq import build_config
from seq2seq.data.manifest import MANIFEST
from seq2seq.data.preprocess import preprocess
from seq2seq.training.prepare import prepare

LEXICON = {"a": "ein", "man": "Mann", "dog": "Hund", "red": "rot", "runs": "läuft", "big": "groß", "cat": "Katze"}
UNSEEN = {"zebra": "Zebra", "kite": "Drachen"}  # only in valid/test: no vocabulary has them
SMALL = {"data.tokenizer": "word", "data.lowercase": False, "data.min_freq": 2, "model.embedding_size": 16,
         "model.encoder_hidden": 32, "model.decoder_hidden": 32, "train.threads": 1, "train.batch_size": 16,
         "train.eval_every": 20, "train.lr": 0.01}


def _write(path, n, seed, unseen):
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        words = [rng.choice(list(LEXICON)) for _ in range(rng.randint(2, 5))]
        if unseen and i % 2 == 0:
            words.insert(rng.randrange(len(words)), rng.choice(list(UNSEEN)))
        target = " ".join({**LEXICON, **UNSEEN}[w] for w in words)
        lines.append(f"{' '.join(words)}.\t{target[0].upper() + target[1:]}.\n")
    path.write_text("".join(lines), encoding="utf-8")
    return str(path)


@pytest.fixture
def files(tmp_path):
    return {"train": _write(tmp_path / "train.tsv", 300, 1, False),
            "valid": _write(tmp_path / "valid.tsv", 30, 2, True), "test": _write(tmp_path / "test.tsv", 20, 3, True)}


def _records(run):
    drop = ("seconds", "eval_seconds", "train_tokens_per_second")
    return [{k: v for k, v in json.loads(line).items() if k not in drop}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def _preprocessed(files, out):
    preprocess(build_config(overrides=SMALL), {split: [(split, path)] for split, path in files.items()}, out,
               progress=False)
    return out


def test_the_references_of_a_directory_are_the_raw_lines(files, tmp_path):
    data = _preprocessed(files, tmp_path / "data")
    prepared = prepare(build_config(overrides={**SMALL, "data.preprocessed": str(data)}), tmp_path / "run", False)
    raw = {split: [line.split("\t")[1].rstrip("\n") for line in open(files[split], encoding="utf-8")]
           for split in ("valid", "test")}
    assert prepared.valid_references == raw["valid"] and prepared.test_references == raw["test"]
    assert any("Zebra" in r for r in prepared.valid_references)  # a word no vocabulary holds stays itself


def test_a_directory_made_before_references_were_kept_still_trains_with_a_note(files, tmp_path, caplog):
    data = _preprocessed(files, tmp_path / "data")
    manifest = json.loads((data / MANIFEST).read_text())
    manifest["version"] = 1
    for split in ("valid", "test"):
        del manifest["splits"][split]["references"]
        for path in (data / split).glob("*.references*"):
            path.unlink()
    (data / MANIFEST).write_text(json.dumps(manifest))
    prepared = prepare(build_config(overrides={**SMALL, "data.preprocessed": str(data)}), tmp_path / "run", False)
    assert "preprocess it again for scores exact" in caplog.text
    assert any("<unk>" in r for r in prepared.valid_references)  # decoded through the vocabulary


@pytest.mark.slow
def test_validation_and_test_metrics_from_a_directory_equal_the_text_path(files, tmp_path):
    data = _preprocessed(files, tmp_path / "data")
    seq2seq.train(build_config(preset="luong", overrides={**SMALL, "train.epochs": 4, "data.train": files["train"],
                                                          "data.valid": files["valid"], "data.test": files["test"]}),
                  tmp_path / "text", quiet=True)
    seq2seq.train(build_config(preset="luong", overrides={**SMALL, "train.epochs": 4, "data.preprocessed": str(data)}),
                  tmp_path / "mapped", quiet=True)
    text, mapped = _records(tmp_path / "text"), _records(tmp_path / "mapped")
    assert text == mapped and len(text) >= 3
    test_metrics = [(tmp_path / run / "test_metrics.json").read_text() for run in ("text", "mapped")]
    assert test_metrics[0] == test_metrics[1]
    assert any(r["valid_bleu"] > 0 for r in text)
    assert all(r["valid_exact_match"] < 1 for r in text)  # no output can match a reference word it cannot write
