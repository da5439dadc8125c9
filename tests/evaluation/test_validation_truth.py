"""Validation scores what users read: a tiny word-level model whose validation references hold words outside
its vocabulary reports, in metrics.jsonl, the BLEU that sacreBLEU gives `seq2seq translate`'s output."""

import json
import random

import pytest
import sacrebleu

from seq2seq import build_config
from seq2seq.cli import main
from seq2seq.config import ConfigError
from seq2seq.evaluation.metrics import literature_tokens

LEXICON = {"a": "ein", "man": "Mann", "dog": "Hund", "red": "rot", "runs": "läuft", "big": "groß",
           "cat": "Katze", "sees": "sieht", "blue": "blau", "ball": "Ball"}
# Words of the validation set only: neither side's vocabulary has them.
UNSEEN = {"zebra": "Zebra", "kite": "Drachen", "boat": "Boot"}


def _pair(words, lexicon):
    target = " ".join(lexicon[w] for w in words)
    return " ".join(words) + ".", target[0].upper() + target[1:] + "."  # as people write: "Ein Mann läuft."


def _corpus(tmp_path):
    rng = random.Random(0)
    known = list(LEXICON)
    train = []
    for i in range(400):
        words = [rng.choice(known) for _ in range(rng.randint(3, 6))]
        lexicon = dict(LEXICON)
        if i % 3 == 0:  # a word seen once: <unk> on both sides (min_freq 2), so the model learns to write <unk>
            words.insert(rng.randrange(len(words)), f"w{i}")
            lexicon[f"w{i}"] = f"W{i}"
        train.append(_pair(words, lexicon))
    valid = []
    for i in range(40):
        words = [rng.choice(known) for _ in range(rng.randint(3, 5))]
        if i % 2 == 0:
            words.insert(rng.randrange(len(words)), rng.choice(list(UNSEEN)))
        valid.append(_pair(words, {**LEXICON, **UNSEEN}))
    for name, pairs in (("train", train), ("valid", valid)):
        (tmp_path / f"{name}.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    return valid


@pytest.mark.slow
def test_validation_bleu_is_sacrebleu_of_translate_output(tmp_path, capsys):
    valid = _corpus(tmp_path)
    run = tmp_path / "run"
    sets = ["data.tokenizer=word", "data.lowercase=false", "data.min_freq=2", "model.embedding_size=32",
            "model.encoder_hidden=64", "model.decoder_hidden=64", "train.threads=1", "train.batch_size=16",
            "train.early_stopping_metric=valid_bleu", "train.patience=0", "train.lr=0.005"]
    args = ["train", "--train", str(tmp_path / "train.tsv"), "--valid", str(tmp_path / "valid.tsv"),
            "--preset", "luong", "--epochs", "6", "--out", str(run), "--quiet"]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    best = max(records, key=lambda r: r["valid_bleu"])  # the first of the highest: checkpoints/best
    (tmp_path / "valid.src").write_text("".join(s + "\n" for s, _ in valid), encoding="utf-8")
    capsys.readouterr()
    assert main(["translate", str(run), "--input", str(tmp_path / "valid.src")]) == 0
    printed = capsys.readouterr().out.splitlines()
    refs = [t for _, t in valid]
    assert len(printed) == len(refs)
    assert best["valid_bleu"] == pytest.approx(sacrebleu.corpus_bleu(printed, [refs]).score, abs=1e-9)
    tok = sacrebleu.corpus_bleu([literature_tokens(h) for h in printed], [[literature_tokens(r) for r in refs]],
                                tokenize="none", force=True).score
    assert best["valid_bleu_tok"] == pytest.approx(tok, abs=1e-9)
    assert best["valid_chrf"] == pytest.approx(sacrebleu.corpus_chrf(printed, [refs]).score, abs=1e-9)
    exact = sum(h == r for h, r in zip(printed, refs)) / len(refs)
    assert best["valid_exact_match"] == pytest.approx(exact) and exact > 0
    unk = sum("<unk>" in h for h in printed) / len(printed)
    assert best["valid_unk_share"] == pytest.approx(unk) and unk > 0  # the model does write <unk>
    assert best["valid_bleu"] > 20  # it learned the word-for-word mapping
    # Through the target vocabulary the references' unseen words would read <unk> and match the outputs'.
    seen = set(literature_tokens((tmp_path / "train.tsv").read_text()).split())
    through_vocab = [" ".join(w if w in seen else "<unk>" for w in literature_tokens(r).split()) for r in refs]
    spaced = [literature_tokens(h) for h in printed]
    assert sacrebleu.corpus_bleu(spaced, [through_vocab], tokenize="none").score > tok


@pytest.mark.parametrize("value, message", [
    ("valid_blue", "train.early_stopping_metric"),
    ("valid_bleu_tok", "needs a word or sentencepiece target tokenizer"),
])
def test_early_stopping_metric_is_checked(value, message):
    with pytest.raises(ConfigError, match=message):
        build_config(overrides={"data.task": "reverse", "train.early_stopping_metric": value})


def test_bleu_tok_is_a_valid_early_stopping_metric():
    cfg = build_config(overrides={"data.tokenizer": "word", "train.early_stopping_metric": "valid_bleu_tok"})
    assert cfg.train.early_stopping_metric == "valid_bleu_tok"
